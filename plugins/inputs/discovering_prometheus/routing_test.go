package discovering_prometheus

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// db_tag and rp_tag refuse every tag name the formats write themselves: the routing tag would replace it
// on every metric, merging the series it tells apart (a summary's quantiles, a histogram's buckets, the
// targets of a scraper) into one, which InfluxDB then overwrites.
func TestRoutingTagRefusesTheFormatsTagNames(t *testing.T) {
	for _, name := range []string{
		"instance", // the kapacitor format: the target; every format: a series' own instance
		"job",      // prometheus-v1 and -v2: a series' own job
		"url",      // prometheus-v1 and -v2: the target's URL
		"le",       // a histogram's bucket
		"quantile", // a summary's quantile
	} {
		for _, key := range []string{"db_tag", "rp_tag"} {
			t.Run(key+"="+name, func(t *testing.T) {
				conf := strings.Replace(scraperConf("", ""), "[[inputs.discovering_prometheus]]",
					fmt.Sprintf("[[inputs.discovering_prometheus]]\n  %s = %q", key, name), 1)
				err := mustLoad(t, conf).Init()
				require.Error(t, err)
				require.Contains(t, err.Error(), fmt.Sprintf(`%s: %q would replace the %s tag of every metric`, key, name, name))
			})
		}
	}
}
