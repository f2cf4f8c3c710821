package discovering_prometheus

// README.md's configuration block is sample.conf, copied in by Telegraf's own tool as in Telegraf's plugins:
// edit sample.conf, then run go generate. make lint-docs fails while they differ. The module root embeds
// sample.conf as SampleConfig, which SampleConfig() returns.
//
//go:generate go tool readme_config_includer
