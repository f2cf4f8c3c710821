package telegrafconf

// consul turns the consul table's queries into consul sections.
func (c *conversion) consul() {
	if _, ok := c.table.Fields["consul"]; ok {
		c.lost("consul", "not migrated yet")
	}
}
