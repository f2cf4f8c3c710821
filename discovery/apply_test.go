//go:build !remove_all_sd

package discovery

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// countingSD is an HTTP SD endpoint that counts its requests and answers one target.
type countingSD struct {
	*httptest.Server
	requests atomic.Int64
}

func newCountingSD(t *testing.T, target string) *countingSD {
	sd := &countingSD{}
	sd.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		sd.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"targets": [%q]}]`, target)
	}))
	t.Cleanup(sd.Close)
	return sd
}

// Apply keeps a discoverer whose configuration is the same running (no new request), restarts a changed
// one, stops a removed one (its targets go, its goroutines end) and starts a new one.
func TestManagerApply(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the servers close, which ends their connections
	kept, changed, removed := newCountingSD(t, "kept:1"), newCountingSD(t, "changed:1"), newCountingSD(t, "removed:1")
	added := newCountingSD(t, "added:1")
	a, b, c, d := Key{"http", "a"}, Key{"http", "b"}, Key{"http", "c"}, Key{"http", "d"}
	r := NewManager(Configs{a: httpSDConfig(kept.URL), b: httpSDConfig(changed.URL), c: httpSDConfig(removed.URL)}, slog.New(slog.DiscardHandler), nil)
	r.Start()
	defer r.Stop()
	<-r.Ready()
	for _, sd := range []*countingSD{kept, changed, removed} {
		require.Equal(t, int64(1), sd.requests.Load())
	}
	v := r.Version()

	bChanged := httpSDConfig(changed.URL)
	bChanged.RefreshInterval *= 2
	r.Apply(Configs{a: httpSDConfig(kept.URL), b: bChanged, d: httpSDConfig(added.URL)})
	require.Eventually(t, func() bool { return len(r.Groups(b)) == 1 && len(r.Groups(d)) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, int64(1), kept.requests.Load(), "the unchanged discoverer is not asked again")
	require.Equal(t, int64(2), changed.requests.Load(), "the changed one starts anew")
	require.Equal(t, int64(1), added.requests.Load())
	require.Empty(t, r.Groups(c), "the removed one's targets are gone")
	require.Len(t, r.Groups(a), 1, "the unchanged one keeps its targets")
	require.Greater(t, r.Version(), v)
	require.Equal(t, Stats{}, r.Stats(c))

	// Back and forth, many times: the goroutines of the stopped ones end, before Stop (and goleak, above).
	r.Apply(Configs{a: httpSDConfig(kept.URL)})
	before := runtime.NumGoroutine()
	for range 20 {
		r.Apply(Configs{a: httpSDConfig(kept.URL)})
		r.Apply(Configs{a: httpSDConfig(kept.URL), c: httpSDConfig(removed.URL)})
	}
	r.Apply(Configs{a: httpSDConfig(kept.URL)})
	removed.CloseClientConnections()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+1 }, // +1: Eventually checks on a goroutine of its own
		10*time.Second, 10*time.Millisecond,
		"goroutines: %d before, %d after", before, runtime.NumGoroutine())
	require.Equal(t, int64(1), kept.requests.Load())
	r.Stop()
}

// Answered is closed while every running discoverer has answered: open again after an Apply starts one
// until it has, and closed at once by an Apply that starts none; Ready stays closed all along.
func TestManagerAnsweredFollowsApply(t *testing.T) {
	hold := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-hold
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"targets": ["slow:1"]}]`)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { closeOnce(hold) })
	fast := newCountingSD(t, "fast:1")
	a, b := Key{"http", "a"}, Key{"http", "b"}
	r := NewManager(Configs{a: httpSDConfig(fast.URL)}, slog.New(slog.DiscardHandler), nil)
	r.Start()
	defer r.Stop()
	<-r.Answered()
	<-r.Ready()

	r.Apply(Configs{a: httpSDConfig(fast.URL), b: httpSDConfig(slow.URL)})
	answered := r.Answered()
	time.Sleep(3 * settle)
	select {
	case <-answered:
		t.Fatal("answered before the discoverer the Apply started")
	default:
	}
	require.Equal(t, []Key{b}, r.Waiting())
	closeOnce(hold)
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("not answered after the new discoverer's first answer")
	}
	require.Empty(t, r.Waiting())
	r.Apply(Configs{a: httpSDConfig(fast.URL)})
	<-r.Answered()
	<-r.Ready()
}
