// Package conffile reads configuration files with a size limit, refusing those that are not regular files
// where reading one could block or never end.
package conffile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSize is the most a configuration file may hold: 16 MiB, far more than any real configuration.
const MaxSize = 16 << 20

// Read reads a configuration file of at most MaxSize bytes. A file that is not a regular file (a named
// pipe, a device such as /dev/zero, a directory) is refused unless anyKind: it is opened without blocking,
// so that a named pipe with no writer is refused instead of waited on. With anyKind, a pipe is read too, as
// a shell's <(...) gives one, within the same limit.
func Read(path string, anyKind bool) ([]byte, error) { return read(path, anyKind, MaxSize) }

// read is Read with the limit of the file's kind.
func read(path string, anyKind bool, limit int64) ([]byte, error) {
	flags := os.O_RDONLY
	if !anyKind {
		flags |= syscall.O_NONBLOCK
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := check(path, info, anyKind, limit); err != nil {
		return nil, err
	}
	// The limit, not the size stat() gives: /proc/self/pagemap is a "regular file" of size 0 that reads
	// on for gigabytes.
	var data []byte
	chunk := make([]byte, readChunk)
	for {
		n, err := f.Read(chunk)
		data = append(data, chunk[:n]...)
		if int64(len(data)) > limit {
			return nil, tooLarge(path, limit)
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readChunk is how much read asks for at once: a multiple of 8, since pagemap refuses reads of other
// sizes (io.ReadAll's make it fail with EINVAL where it should be found too large).
const readChunk = 64 << 10

// Check tells whether a file that another reader reads whole (Prometheus' scrape_config_files) is a
// regular file of at most MaxSize bytes. It does not open the file.
func Check(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return check(path, info, false, MaxSize)
}

func check(path string, info fs.FileInfo, anyKind bool, limit int64) error {
	if info.IsDir() {
		return fmt.Errorf("%s: is a directory, not a file", path)
	}
	if !anyKind && !info.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%s)", path, kind(info.Mode()))
	}
	if info.Mode().IsRegular() && info.Size() > limit {
		return tooLarge(path, limit)
	}
	return nil
}

func tooLarge(path string, limit int64) error {
	what := "a configuration file"
	if limit == MaxTOMLSize {
		what = "a TOML configuration file"
	}
	return fmt.Errorf("%s: larger than %d MiB, the most %s may hold", path, limit>>20, what)
}

// kind names a file type that is not a regular file.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.Type().String()
}
