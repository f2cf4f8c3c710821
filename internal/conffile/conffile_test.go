package conffile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.conf")
	require.NoError(t, os.WriteFile(small, []byte("a = 1\n"), 0o644))
	data, err := Read(small, false)
	require.NoError(t, err)
	require.Equal(t, "a = 1\n", string(data))

	big := filepath.Join(dir, "big.conf")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxSize+1), 0o644))
	_, err = Read(big, true)
	require.EqualError(t, err, big+": larger than 16 MiB, the most a configuration file may hold")
	require.EqualError(t, Check(big), big+": larger than 16 MiB, the most a configuration file may hold")
	require.NoError(t, Check(small))

	_, err = Read(dir, true)
	require.ErrorContains(t, err, dir+": is a directory")
}

// A device that never ends is refused, or read up to the limit where any kind of file is taken.
func TestReadDevZero(t *testing.T) {
	_, err := Read("/dev/zero", false)
	require.EqualError(t, err, "/dev/zero: not a regular file (a character device)")
	_, err = Read("/dev/zero", true)
	require.EqualError(t, err, "/dev/zero: larger than 16 MiB, the most a configuration file may hold")
}

// A regular file whose stat() says 0 bytes and which reads on for gigabytes is read up to the limit only.
func TestReadPagemap(t *testing.T) {
	_, err := Read("/proc/self/pagemap", false)
	require.EqualError(t, err, "/proc/self/pagemap: larger than 16 MiB, the most a configuration file may hold")
	_, err = ReadTOML("/proc/self/pagemap", false)
	require.EqualError(t, err, "/proc/self/pagemap: larger than 2 MiB, the most a TOML configuration file may hold")
}

// A named pipe with no writer is refused at once, not waited on.
func TestReadFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.conf")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	done := make(chan error, 1)
	go func() {
		_, err := Read(fifo, false)
		done <- err
	}()
	select {
	case err := <-done:
		require.EqualError(t, err, fifo+": not a regular file (a named pipe)")
	case <-time.After(10 * time.Second):
		t.Fatal("reading a named pipe blocked")
	}
	require.EqualError(t, Check(fifo), fifo+": not a regular file (a named pipe)")
}
