// Package profiling serves Go's pprof profiles, for both commands' --pprof-addr flag (Telegraf's name).
package profiling

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// Serve serves the profiles under /debug/pprof/ on addr (host:port), in the background.
func Serve(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go func() {
		err := (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(l)
		os.Stderr.WriteString(os.Args[0] + ": pprof: " + err.Error() + "\n")
	}()
	return nil
}
