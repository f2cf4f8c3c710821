package discovering_prometheus

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

// writeJSON writes v to path as a discoverer's file, whole at once.
func writeJSON(tb testing.TB, path string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	if os.WriteFile(path+".tmp", b, 0o644) != nil || os.Rename(path+".tmp", path) != nil {
		tb.Fatal("cannot write", path)
	}
}

// BenchmarkGatherAfterUnrelatedUpdate is the latency of a gather that follows a discovery update of
// another scraper's discoverer, with 10,000 targets among 100 peers: the update changes nothing of these
// targets, and no target is due, so the gather has nothing to do but notice. sync-done=false gathers as
// soon as discovery has the update, while the re-sync it caused may run beside it (on this machine's two
// cores, its CPU shows in the gather's time); sync-done=true once that re-sync has ended.
func BenchmarkGatherAfterUnrelatedUpdate(b *testing.B) {
	var peers []string
	for i := range 100 {
		peers = append(peers, fmt.Sprintf("10.200.0.%d:9273", i))
	}
	p, _, _, other := syncMember(b, 10_000, peers...)
	if n := len(p.Targets().Active); n != 10_001 {
		b.Fatalf("%d targets, not 10,001", n)
	}
	acc := &countingAcc{}
	for _, settled := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync-done=%t", settled), func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				v := p.sd.Version()
				other(i + 1)
				for p.sd.Version() == v {
					time.Sleep(time.Millisecond)
				}
				if settled {
					time.Sleep(200 * time.Millisecond) // the re-sync takes some 10 ms
					func() {                           // and has ended
						p.syncMu.Lock()
						defer p.syncMu.Unlock()
					}()
				}
				b.StartTimer()
				if err := p.Gather(acc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
