package discovery

// Serverset is a [[serverset]] section: targets registered in ZooKeeper as Twitter (Finagle, Aurora)
// serversets, one JSON member ({"serviceEndpoint", "additionalEndpoints", "status", "shard"}) a child
// znode of each path.
type Serverset struct {
	Common
	ZooKeeper
}

// Service implements Provider.
func (*Serverset) Service() string { return "serverset" }
