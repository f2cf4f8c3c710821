package tests

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Dnsmasq is Debian's dnsmasq answering on 127.0.0.1:53 inside a namespace, the name server of its
// resolv.conf, serving only the records given as flags (--srv-host, --host-record).
type Dnsmasq struct {
	t   testing.TB
	ns  *NetNS
	cmd *exec.Cmd
}

// StartDnsmasq starts dnsmasq with the given record flags; it is stopped when the test ends.
func StartDnsmasq(t testing.TB, ns *NetNS, records ...string) *Dnsmasq {
	t.Helper()
	needBinary(t, "dnsmasq", "/usr/sbin/dnsmasq")
	d := &Dnsmasq{t: t, ns: ns}
	d.Start(records...)
	t.Cleanup(d.Stop)
	return d
}

// Start runs dnsmasq (again) with a record set, and waits until it says it has started, which it does
// once it listens.
func (d *Dnsmasq) Start(records ...string) {
	d.t.Helper()
	args := append([]string{"--no-daemon", "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1",
		"--bind-interfaces", "--port=53", "--log-facility=-"}, records...)
	d.cmd = d.ns.Command("dnsmasq", args...)
	stderr, err := d.cmd.StderrPipe()
	require.NoError(d.t, err)
	require.NoError(d.t, d.cmd.Start())
	started := make(chan string, 2)
	go func() {
		var said []string
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			said = append(said, scanner.Text())
			if strings.Contains(scanner.Text(), "started, version") {
				started <- "started"
			}
		}
		started <- "exited:\n" + strings.Join(said, "\n")
	}()
	select {
	case state := <-started:
		require.Equal(d.t, "started", state, "dnsmasq %v", records)
	case <-time.After(10 * time.Second):
		d.t.Fatalf("dnsmasq %v did not start within 10s", records)
	}
}

// Stop kills dnsmasq.
func (d *Dnsmasq) Stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	d.cmd = nil
}
