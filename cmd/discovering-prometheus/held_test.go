package main

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// With -poll_interval_disabled the scrapes wait for the next line on stdin, up to the bound: a scrape that
// would take the held bytes past it is written at once, after what was held, and nothing is lost.
func TestHeldOutputWaitsForTheLineUpToItsBound(t *testing.T) {
	var stdout bytes.Buffer
	out := &syncWriter{w: bufio.NewWriter(&stdout)}
	h := &heldOutput{out: out, limit: 10}
	_, err := h.Write([]byte("a 1\n"))
	require.NoError(t, err)
	_, err = h.Write([]byte("b 2\n"))
	require.NoError(t, err)
	require.NoError(t, out.Flush())
	require.Empty(t, stdout.String(), "held until the line")

	h.release()
	require.NoError(t, out.Flush())
	require.Equal(t, "a 1\nb 2\n", stdout.String())

	stdout.Reset()
	_, err = h.Write([]byte("c 3\n"))
	require.NoError(t, err)
	_, err = h.Write([]byte("a scrape past the bound\n"))
	require.NoError(t, err)
	require.Equal(t, "c 3\na scrape past the bound\n", stdout.String(), "written at once, in order")
	h.release()
	require.NoError(t, out.Flush())
	require.Equal(t, "c 3\na scrape past the bound\n", stdout.String())
}
