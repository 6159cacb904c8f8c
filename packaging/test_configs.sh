# Checks of the configuration files the packages ship beside the agent,
# sourced by packaging/test.sh (uses its check/pass/fail helpers, $WORK,
# $PIDS, free_port, port_open, wait_for and stop_pid):
#   - the Mosquitto snippet loads into Debian's stock Mosquitto main config
#     and gives a persistent QoS 1 session a queue beyond the defaults that
#     survives a broker restart, with mosquitto_sub and with the agent;
#   - the logrotate snippet parses (logrotate -d) and signals the agent;
#   - the Prometheus alert rules pass promtool check and promtool test.

STOCK_MOSQUITTO_CONF=/etc/mosquitto/mosquitto.conf

# ---------------------------------------------------------------- broker snippet

# stock_broker_conf DIR: the stock main config with only what an unprivileged
# run in DIR needs rewritten: pid_file, persistence_location, log_dest and
# include_dir. Fails if one of them is missing or anything else changed.
stock_broker_conf() {
	local d=$1 key
	sed -e "s|^pid_file .*|pid_file $d/mosquitto.pid|" \
		-e "s|^persistence_location .*|persistence_location $d/data/|" \
		-e "s|^log_dest file .*|log_dest file $d/mosquitto.log|" \
		-e "s|^include_dir .*|include_dir $d/conf.d|" \
		"$STOCK_MOSQUITTO_CONF" >"$d/mosquitto.conf" || return 1
	for key in pid_file persistence_location 'log_dest file' include_dir; do
		grep -q "^$key $d" "$d/mosquitto.conf" || { echo "stock config has no '$key' line to rewrite"; return 1; }
	done
	# Everything but the four rewritten lines is the stock file.
	diff <(grep -vE '^(pid_file|persistence_location|log_dest file|include_dir) ' "$STOCK_MOSQUITTO_CONF") \
		<(grep -vE '^(pid_file|persistence_location|log_dest file|include_dir) ' "$d/mosquitto.conf")
}

# start_stock_broker DIR PORT: mosquitto on the rewritten stock config; sets
# BROKER_PID. Started as root, Mosquitto drops to its own user (as the
# packaged service does), so DIR belongs to that user.
start_stock_broker() {
	local d=$1 port=$2 mosq runs
	mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
	chmod o+x "$WORK" && chown -R mosquitto: "$d" 2>/dev/null || true
	runs=$(stock_broker_runs "$d")
	"$mosq" -c "$d/mosquitto.conf" >>"$d/stdout.log" 2>&1 &
	BROKER_PID=$!
	PIDS+=("$BROKER_PID")
	# Up: this start logged "running" (past its listeners, so the open port
	# is its own), is alive, and the port answers.
	if ! wait_for 10 stock_broker_up "$d" "$runs" "$port" || ! kill -0 "$BROKER_PID" 2>/dev/null; then
		echo "mosquitto did not start:"
		cat "$d/stdout.log" "$d/mosquitto.log" 2>/dev/null
		return 1
	fi
}

stock_broker_runs() { cat "$1/stdout.log" "$1/mosquitto.log" 2>/dev/null | grep -c ' running$'; }

stock_broker_up() { # dir runs-before port
	kill -0 "$BROKER_PID" 2>/dev/null && [[ $(stock_broker_runs "$1") -gt $2 ]] && port_open "$3"
}

# start_stock_broker_on_free_port DIR: writes a test listener on a free
# port into DIR/conf.d and starts the broker (start_stock_broker), sets
# PORT. The port may be taken between free_port and Mosquitto's bind: up to
# five attempts, each on a new port.
start_stock_broker_on_free_port() {
	local d=$1 attempt
	for attempt in 1 2 3 4 5; do
		PORT=$(free_port) || return 1
		printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$PORT" >"$d/conf.d/00-test-listener.conf" || return 1
		: >"$d/stdout.log"
		start_stock_broker "$d" "$PORT" && return 0
		grep -q 'Address already in use' "$d/stdout.log" "$d/mosquitto.log" 2>/dev/null || return 1
		stop_pid "$BROKER_PID"
		echo "port $PORT taken (attempt $attempt of 5)"
	done
	return 1
}

# broker_snippet_stock: the snippet in conf.d of Debian's stock main config.
# A persistent QoS 1 session is queued more messages than Mosquitto's
# defaults allow (max_queued_messages 1000), the broker is stopped (it saves
# its database to the main config's persistence_location) and restarted,
# and the session then receives every message.
broker_snippet_stock() {
	local d="$WORK/stock-broker" port n=3000 got
	rm -rf "$d" && mkdir -p "$d/conf.d" "$d/data" || return 1
	if [[ $(md5sum <"$STOCK_MOSQUITTO_CONF" | cut -d' ' -f1) != \
		$(dpkg-query -W -f='${Conffiles}\n' mosquitto | awk -v f="$STOCK_MOSQUITTO_CONF" '$1 == f { print $2 }') ]]; then
		echo "note: $STOCK_MOSQUITTO_CONF differs from the one the mosquitto package shipped"
	fi
	stock_broker_conf "$d" || return 1
	cp packaging/mosquitto-edgespool.conf "$d/conf.d/edgespool.conf" || return 1
	echo "--- main config as run:"
	cat "$d/mosquitto.conf"
	start_stock_broker_on_free_port "$d" || return 1
	port=$PORT
	local sub=(mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -c -i pkgtest-agent-$$ -t 'emergency_generator/+')
	"${sub[@]}" -E || { echo "subscribe failed"; return 1; }
	seq "$n" | sed 's/^/{"generatorID":"pkgtest","fuel":900,"seq":/; s/$/}/' |
		mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t emergency_generator/pkgtest -l || return 1
	stop_pid "$BROKER_PID"
	test -s "$d/data/mosquitto.db" || { echo "no database saved in the persistence_location"; return 1; }
	start_stock_broker "$d" "$port" || return 1
	got=$("${sub[@]}" -C "$n" -W 30 | grep -c '"generatorID":"pkgtest"')
	stop_pid "$BROKER_PID"
	echo "--- broker log:"
	cat "$d/mosquitto.log"
	echo "received $got of $n queued QoS 1 messages after a broker restart"
	[[ $got == "$n" ]]
}

# broker_snippet_agent AGENT: the agent (binary AGENT) against the stock
# main config with the snippet. It subscribes once (its persistent session),
# is stopped; readings published meanwhile, more than Mosquitto's default
# queue, wait in the broker across a broker restart; the agent restarted
# spools every one of them (read back with `spool dump`).
broker_snippet_agent() {
	local agent=$1 d="$WORK/stock-broker-agent" port hport n=3000 got i
	rm -rf "$d" && mkdir -p "$d/conf.d" "$d/data" "$d/agent" || return 1
	stock_broker_conf "$d" >/dev/null || return 1
	cp packaging/mosquitto-edgespool.conf "$d/conf.d/edgespool.conf" || return 1
	start_stock_broker_on_free_port "$d" || return 1
	port=$PORT
	hport=$(free_port) || return 1
	cat >"$d/agent/agent.yaml" <<-EOF
		mqtt:
		  broker: tcp://127.0.0.1:$port
		  client_id: pkgtest-stock-$$
		spool:
		  path: $d/agent/spool.db
		downsample:
		  enabled: false
		http:
		  listen: 127.0.0.1:$hport
	EOF
	start_agent "$d/agent" 1 "$agent" || return 1
	stop_pid "$AGENT_PID"
	for i in $(seq "$n"); do
		printf '{"generatorID":"pkgtest","lat":40.7,"lon":-74.0,"temperature":200,"power":1000,"load":50,"fuel":%d,"seq":%d}\n' $((1000 + i % 500)) "$i"
	done | mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t emergency_generator/pkgtest -l || return 1
	stop_pid "$BROKER_PID"
	start_stock_broker "$d" "$port" || return 1
	start_agent "$d/agent" 2 "$agent" || return 1
	for i in $(seq 30); do
		got=$("$agent" status -addr "127.0.0.1:$hport" -json | tr -d ' \n' | grep -o '"name":"raw"[^}]*"last_seq":[0-9]*' | grep -o '[0-9]*$')
		[[ ${got:-0} -ge $n ]] && break
		sleep 1
	done
	stop_pid "$AGENT_PID"
	stop_pid "$BROKER_PID"
	got=$("$agent" spool dump -spool "$d/agent/spool.db" | grep -c '"key":"pkgtest"')
	echo "the agent spooled $got of $n readings queued for its session across a broker restart"
	[[ $got == "$n" ]]
}

step_broker() {
	check "broker: snippet loads with Debian's stock mosquitto.conf; QoS 1 queue beyond the defaults survives a restart" \
		broker_snippet_stock
}

step_broker_agent() {
	check "broker: the agent on Debian's stock mosquitto.conf + snippet gets every reading queued while it was down, across a broker restart" \
		broker_snippet_agent "$DIST/bin/linux_amd64/edgespool"
}

# ---------------------------------------------------------------- logrotate

LOGROTATE_CONF=/etc/logrotate.d/edgespool
LOG_DIR=/var/log/edgespool

# logrotate_debug: the installed snippet parses without an error and covers
# the agent's log file (needs the edgespool user: run after install).
logrotate_debug() {
	local out rc=0
	install -d -o edgespool -g edgespool -m 0750 "$LOG_DIR" &&
		echo "agent line" >"$LOG_DIR/edgespool.log" &&
		chown edgespool:edgespool "$LOG_DIR/edgespool.log" || return 1
	out=$(logrotate -d -s "$WORK/logrotate.state" "$LOGROTATE_CONF" 2>&1) || rc=$?
	echo "$out"
	[[ $rc == 0 ]] || { echo "logrotate -d exited $rc"; return 1; }
	! grep -qi '^error' <<<"$out" || return 1
	grep -qF "considering log $LOG_DIR/edgespool.log" <<<"$out" || { echo "log file not considered"; return 1; }
	assert_eq "$(file_mode "$LOGROTATE_CONF")" "644 root:root" "$LOGROTATE_CONF"
}

# logrotate_rotates: a forced rotation renames the log, creates an empty one
# for the service user and sends the service SIGHUP through systemctl (a
# stand-in first in PATH records the call).
logrotate_rotates() {
	local bin="$WORK/fake-bin"
	mkdir -p "$bin" &&
		printf '#!/bin/sh\necho "$@" >>%s/systemctl.calls\n' "$WORK" >"$bin/systemctl" &&
		chmod 0755 "$bin/systemctl" || return 1
	rm -f "$WORK/systemctl.calls"
	PATH="$bin:$PATH" logrotate -v -f -s "$WORK/logrotate.state" "$LOGROTATE_CONF" || return 1
	ls -l "$LOG_DIR"
	grep -q 'agent line' "$LOG_DIR/edgespool.log.1" || { echo "no rotated edgespool.log.1"; return 1; }
	[[ ! -s $LOG_DIR/edgespool.log ]] || { echo "new log not empty"; return 1; }
	assert_eq "$(file_mode "$LOG_DIR/edgespool.log")" "640 edgespool:edgespool" "new log" || return 1
	echo "systemctl calls: $(cat "$WORK/systemctl.calls" 2>/dev/null)"
	grep -qx -- 'kill --signal=HUP edgespool.service' "$WORK/systemctl.calls"
}

step_logrotate_installed() {
	check "logrotate: installed snippet passes logrotate -d" logrotate_debug
	check "logrotate: forced rotation renames, recreates 0640, sends the service SIGHUP" logrotate_rotates
	rm -rf "$LOG_DIR"
}

# ---------------------------------------------------------------- monitoring

MONITORING=packaging/monitoring

step_monitoring() {
	check "monitoring: promtool check rules on the alert rules" \
		promtool check rules "$MONITORING/edgespool-alerts.yml"
	check "monitoring: promtool test rules (alert unit tests)" \
		bash -c "cd '$MONITORING' && promtool test rules edgespool-alerts.test.yml"
}
