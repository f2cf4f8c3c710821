package cluster

import (
	"errors"
	"net"
	"reflect"
	"time"

	"github.com/prometheus/common/model"
)

// DefaultSelfPort is the port of the default self: the one the sharded manifest lists its replicas with
// (deploy/kubernetes/sharded.yaml: each pod's IP and its container port "peer", 9273, Telegraf's
// prometheus_client port), so that an instance run that way is a member without setting self.
const DefaultSelfPort = "9273"

// DefaultSelf is this host's primary address, the one its default route leaves from (in Kubernetes the
// pod's IP, which the kubernetes and dns peer discoverers list), with DefaultSelfPort. A host name would not
// do: no peer discoverer of the manifests lists one, nor a port. Finding the route sends nothing (a UDP
// socket is only connected); without one, the first global unicast address of an interface, IPv4 first.
func DefaultSelf() (string, error) {
	if conn, err := net.Dial("udp", "192.0.2.1:9"); err == nil { // TEST-NET-1: a route, never a packet
		ip := conn.LocalAddr().(*net.UDPAddr).IP
		_ = conn.Close()
		if ip.IsGlobalUnicast() {
			return net.JoinHostPort(ip.String(), DefaultSelfPort), nil
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	var found net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() && (found == nil || found.To4() == nil && n.IP.To4() != nil) {
			found = n.IP
		}
	}
	if found == nil {
		return "", errors.New("no interface has a global unicast address")
	}
	return net.JoinHostPort(found.String(), DefaultSelfPort), nil
}

// defaultEmptyPeersAfter is empty-peers-after for a peer discoverer without a refresh interval (a watch).
const defaultEmptyPeersAfter = 5 * time.Minute

// DefaultEmptyPeersAfter is empty-peers-after for the peer discoverer of that Prometheus SD configuration:
// three of its refresh intervals, or 5 minutes for one that watches.
func DefaultEmptyPeersAfter(sd any) time.Duration {
	if every, ok := refreshInterval(sd); ok {
		return 3 * every
	}
	return defaultEmptyPeersAfter
}

// refreshInterval is how often a discoverer asks again, for the kinds that poll (file, dns, consul, the
// clouds): each Prometheus SD configuration of those has a RefreshInterval. The watching kinds have none.
func refreshInterval(cfg any) (time.Duration, bool) {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	field, ok := v.Type().FieldByName("RefreshInterval")
	if !ok {
		return 0, false
	}
	f, err := v.FieldByIndexErr(field.Index) // through an embedded pointer, which may be nil
	if err != nil || !f.CanInterface() {
		return 0, false
	}
	d, ok := f.Interface().(model.Duration)
	return time.Duration(d), ok && d > 0
}
