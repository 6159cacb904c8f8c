package servers

import "fmt"

const influxdConf = `reporting-disabled = true
bind-address = "%[1]s"
[meta]
  dir = "%[2]s/meta"
[data]
  dir = "%[2]s/data"
  wal-dir = "%[2]s/wal"
  query-log-enabled = false
  trace-logging-enabled = false
[coordinator]
  log-queries-after = "0s"
[http]
  enabled = true
  bind-address = "%[3]s"
  auth-enabled = false
  log-enabled = false
  flux-enabled = true
  max-body-size = 0
[logging]
  level = "warn"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`

// InfluxdConfig renders an influxd 1.8 configuration file: data, meta and
// WAL below dir, the RPC service on rpcAddr and the HTTP API (v1, v2 write
// and Flux, no authentication, no body size limit) on httpAddr. Reporting,
// monitoring, continuous queries and request logging are off.
func InfluxdConfig(dir, rpcAddr, httpAddr string) []byte {
	return fmt.Appendf(nil, influxdConf, rpcAddr, dir, httpAddr)
}
