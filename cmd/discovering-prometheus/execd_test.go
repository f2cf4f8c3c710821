package main

import (
	"bufio"
	"io"
	"strings"
	"testing"

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
	go func() { done <- serve(input, stdinR, stdoutW, 0, newStderrLog(io.Discard, telegraf.Info, logQueueLen)) }()
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
