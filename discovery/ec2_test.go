//go:build !remove_all_sd || enable_aws_sd

package discovery

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/aws"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

func TestEC2Defaults(t *testing.T) {
	cfg, err := (&EC2{Common: Common{ID: "e"}}).SDConfig()
	require.NoError(t, err)
	require.Equal(t, &aws.EC2SDConfig{
		Region:           "us-east-1",
		Port:             80,
		RefreshInterval:  model.Duration(time.Minute),
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}, cfg)
}

func TestEC2Mapping(t *testing.T) {
	e := &EC2{
		Common:          Common{ID: "e"},
		Region:          "eu-west-1",
		AccessKey:       "AKIDEXAMPLE",
		SecretKey:       config.NewSecret([]byte("s3cret")),
		Profile:         "ops",
		RefreshInterval: config.Duration(2 * time.Second),
		Port:            9100,
		Endpoint:        "https://ec2.example:8443",
		RoleARN:         "arn:aws:iam::123456789012:role/scraper",
		Filters:         []EC2Filter{{Name: "tag:team", Values: []string{"web", "db"}}},
		TLS:             httpconfig.TLS{CA: "/ca.pem", ServerName: "ec2.example"},
	}
	cfg, err := e.SDConfig()
	require.NoError(t, err)
	want := &aws.EC2SDConfig{
		Endpoint:         "https://ec2.example:8443",
		Region:           "eu-west-1",
		AccessKey:        "AKIDEXAMPLE",
		SecretKey:        "s3cret",
		Profile:          "ops",
		RoleARN:          "arn:aws:iam::123456789012:role/scraper",
		RefreshInterval:  model.Duration(2 * time.Second),
		Port:             9100,
		Filters:          []*aws.Filter{{Name: "tag:team", Values: []string{"web", "db"}}},
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}
	want.HTTPClientConfig.TLSConfig = promconfig.TLSConfig{CAFile: "/ca.pem", ServerName: "ec2.example"}
	require.Equal(t, want, cfg)
	require.Equal(t, "ec2", cfg.Name())
}

func TestEC2Errors(t *testing.T) {
	for want, e := range map[string]EC2{
		"port: 70000 is not a TCP port":                       {Port: 70000},
		"refresh-interval: -1s is negative":                   {RefreshInterval: config.Duration(-time.Second)},
		"access-key and secret-key must be given together":    {AccessKey: "AKID"},
		`endpoint: "ec2.example" is not an http or https URL`: {Endpoint: "ec2.example"},
		`role-arn: "scraper" is not an ARN`:                   {RoleARN: "scraper"},
		"filters[1]: name: required":                          {Filters: []EC2Filter{{Name: "a", Values: []string{"b"}}, {Values: []string{"x"}}}},
		"filters[0]: values: at least one value is required":  {Filters: []EC2Filter{{Name: "tag:team"}}},
		"ssl-cert and ssl-key must be given together":         {TLS: httpconfig.TLS{Cert: "c.pem"}},
	} {
		t.Run(want, func(t *testing.T) {
			_, err := e.SDConfig()
			require.ErrorContains(t, err, want)
		})
	}
	e := EC2{SecretKey: config.NewSecret([]byte("s"))}
	_, err := e.SDConfig()
	require.ErrorContains(t, err, "access-key and secret-key must be given together")
}
