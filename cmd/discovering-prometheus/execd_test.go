package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

// countingInput is an input whose every gather writes one metric, numbered.
type countingInput struct{ n int }

func (*countingInput) SampleConfig() string { return "" }

func (c *countingInput) Gather(acc telegraf.Accumulator) error {
	c.n++
	acc.AddFields("gather", map[string]any{"n": c.n}, nil)
	return nil
}

// Every line on stdin is a request for a gather, however long: a line past bufio.Scanner's 64 KiB once
// ended the loop, silently and with status 0.
func TestServeTakesLongLinesAsRequests(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	input := &countingInput{}
	go func() { done <- serve(input, stdinR, stdoutW, 0, newStderrLog(io.Discard, logQueueLen)) }()
	out := bufio.NewScanner(stdoutR)
	for i, line := range []string{strings.Repeat("x", 1<<20), "", strings.Repeat("y", 70<<10)} {
		_, err := io.WriteString(stdinW, line+"\n")
		require.NoError(t, err)
		require.True(t, out.Scan(), "gather %d", i+1)
		require.Contains(t, out.Text(), "gather n=")
	}
	require.NoError(t, stdinW.Close())
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	require.NoError(t, <-done)
	require.Equal(t, 3, input.n)
}

// failingWriter takes n bytes, then fails every write, as a closed stdout does.
type failingWriter struct{ n int }

func (f *failingWriter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("write |1: broken pipe")
	}
	f.n -= len(b)
	return len(b), nil
}

// When stdout fails, serve ends within the gather with an error that names stdout, once, instead of
// gathering on into nowhere; main then logs it and exits 1.
func TestServeEndsWhenStdoutFails(t *testing.T) {
	for _, n := range []int{0, 5} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			stdinR, stdinW := io.Pipe()
			done := make(chan error, 1)
			input := &countingInput{}
			go func() {
				done <- serve(input, stdinR, &failingWriter{n: n}, 0, newStderrLog(io.Discard, logQueueLen))
			}()
			// The first request's gather fails to write; the second must find serve gone, not gathering.
			_, err := io.WriteString(stdinW, "\n")
			require.NoError(t, err)
			var serveErr error
			select {
			case serveErr = <-done:
			case <-time.After(3 * time.Second):
				t.Fatalf("n=%d: serve went on after stdout failed", n)
			}
			require.EqualError(t, serveErr, "writing metrics to stdout: write |1: broken pipe", "n=%d", n)
			require.Equal(t, 1, input.n, "n=%d", n)
			require.NoError(t, stdinW.Close())
		})
	}
}

// gatherOnce names stdout in its write error too.
func TestGatherOnceNamesStdout(t *testing.T) {
	err := gatherOnce(&countingInput{}, &failingWriter{}, newStderrLog(io.Discard, logQueueLen))
	require.EqualError(t, err, "writing metrics to stdout: write |1: broken pipe")
}
