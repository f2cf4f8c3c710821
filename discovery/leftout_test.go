//go:build remove_all_sd && !enable_aws_sd

package discovery

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A build that leaves out the aws SD still parses an ec2 section but refuses it, saying how to build it in;
// static is in every build. Run with go test -tags remove_all_sd.
func TestLeftOutSectionIsRefused(t *testing.T) {
	ec2 := &EC2{Common: Common{ID: "web"}}
	require.False(t, BuiltIn(ec2))
	configs, err := Validate([]Provider{ec2, &Static{Common: Common{ID: "s"}, Targets: []string{"localhost:9100"}}})
	require.EqualError(t, err,
		`ec2 "web": this build leaves out the ec2 discoverer (built with -tags remove_all_sd; add enable_aws_sd)`)
	require.Contains(t, configs, Key{"static-discovery", "s"})
}
