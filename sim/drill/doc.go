// Package drill proves a site's resilience end to end: it reads a drill
// file (YAML: the fleet to simulate, the site, a timeline of faults),
// publishes the simulated fleet to the site's broker, plays the faults at
// their times, samples the agent's /status and /metrics every second,
// waits for the backlog to drain, reads the sinks back (sim/verify) and
// judges every scenario step.
//
// Faults: uplink cut, flap, latency and bandwidth, for the Kafka and the
// InfluxDB link separately or both (through Toxiproxy, or the built-in
// link cutter sim/linkcut that the drill runs itself); agent SIGKILL and
// restart; agent clean restart; broker restart; power cut (agent and
// broker killed together, both started again); spool disk pressure, only
// through commands the user gives (skipped and reported otherwise). The
// agent and the broker are controlled by the user's commands (systemctl,
// a start script, or a pid file to signal), so a drill runs the same under
// systemd and on a test bench. Faults are listed at fixed times, drawn
// from a seed (the same file and seed give the same schedule), or both.
//
// The outcome is a Record (record.json: the plan, every action with its
// time and outcome, one Sample per second with the whole /status and the
// selected metrics, the versions, the drill file's and the agent
// configuration's sha256, the seeds) with its Verdict: per step, readings
// published, acknowledged by the broker, delivered, duplicated, lost
// (named as seq ranges per generator) and reordered in each sink, the
// largest backlog and the time to drain after the fault ended, and the
// agent's loss counters, to tell whether every loss was counted; and, per
// downsampled stream, the windows that start within the step (expected,
// present, missing, wrong: not the window's latest reading, wrong alarm or
// region, extra, duplicates), judged by sim/verify's CheckDown over that
// slice of the run. The verdict passes only when nothing acknowledged was
// lost, order and values held, and the downsampled windows and alarms were
// right; a step with a missing, wrong or extra window is named in the
// reasons. WriteHTML
// renders a self-contained report (inline SVG and CSS, nothing fetched)
// with a timeline plot of the publish rate, the backlog, the deliveries
// per sink, the link and process states and the fault markers.
//
// Shipped drills (examples/*.yaml, also embedded: Example): quick (two
// minutes: one cut, one kill, one broker restart) and soak (an hour with
// random faults from a seed).
//
// Tests: the plan, the report, the controls and the per-step judgment of
// the downsampled windows (TestStepsJudgeDownsampledWindows) are unit tested;
// TestDrillQuick runs the quick drill at a quarter of its time against
// real Mosquitto, kfake, InfluxDB 1.8 and Toxiproxy (sim/testenv) with the
// agent built from source and run as its own process, and
// TestDrillLossyBrokerFails shows that a broker dropping queued messages
// makes the drill fail with the missing ranges located. Both skip with
// -short.
package drill
