package discovery

// Nerve is a [[nerve]] section: targets registered in ZooKeeper by AirBnB's Nerve, one JSON member
// ({"host", "port", "name"}) a child znode of each path.
type Nerve struct {
	Common
	ZooKeeper
}

// Service implements Provider.
func (*Nerve) Service() string { return "nerve" }
