#!/usr/bin/env bash
# Packaging tests: first the shipped config files (test_configs.sh: the
# Mosquitto snippet on Debian's stock broker config, promtool on the alert
# rules), then builds every binary and package, and on this machine (as
# root, Debian):
#   - checks the binaries (static, trimmed, stamped) and the package metadata;
#   - lintian on the .debs (no errors);
#   - dpkg -i the amd64 .deb: user, directories, permissions, `edgespool
#     version` and `check-config` as the service user, systemd-analyze verify
#     and security of the installed unit;
#   - upgrade to a rebuilt higher version with a locally edited config (kept);
#   - the installed logrotate snippet: logrotate -d, and a forced rotation
#     that recreates the log and signals the service;
#   - remove (user, spool and config kept), purge (all gone, logs too);
#   - inspects every .rpm (arch, files, noreplace config, scriptlets), installs
#     it into a scratch --root, and runs its scriptlets for real against a
#     private rpm database: install, upgrade (edit kept), erase;
#   - the edgespool-sim packages (test_sim.sh): not in the agent package,
#     metadata, lintian, install/run/purge, rpm scratch root;
#   - runs the arm64 and armv7 binaries under qemu-user, and the spool
#     package's append/reopen/read-back tests cross-compiled for both.
# Cleans up after itself (purge, erase, user, temp files) even on failure.
# Prints one PASS/FAIL line per check and ends with
#   packaging: N passed, M failed
# Exit status is non-zero if any check failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export PATH="${EDGESPOOL_TOOLS:-/opt/edgespool-tools}/bin:$PATH"

PKG=edgespool
SIM_PKG=edgespool-sim
CONF=/etc/edgespool/edgespool.yaml
UNIT_FILE=/lib/systemd/system/edgespool.service
WANTS=/etc/systemd/system/multi-user.target.wants/edgespool.service
STATE=/var/lib/edgespool
WORK=$(mktemp -d /tmp/edgespool-pkgtest.XXXXXX)
LOG="$WORK/step.log"
RPMDB="$WORK/rpmdb"
PASSED=0
FAILED=0
USER_EXISTED=0
PIDS=() # background processes this test started; stopped by PID in cleanup
getent passwd edgespool >/dev/null && USER_EXISTED=1

pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL $1"
	if [[ -s $LOG ]]; then sed 's/^/    | /' "$LOG" | tail -n 25; fi
}

# check NAME CMD...: runs CMD with output captured; PASS if it exits 0.
check() {
	local name=$1
	shift
	: >"$LOG"
	if "$@" >"$LOG" 2>&1; then pass "$name"; else fail "$name"; fi
}

# expect_contains NAME NEEDLE CMD...: CMD succeeds and its output contains NEEDLE.
expect_contains() {
	local name=$1 needle=$2
	shift 2
	: >"$LOG"
	if "$@" >"$LOG" 2>&1 && grep -qF -- "$needle" "$LOG"; then
		pass "$name"
	else
		echo "(expected output to contain: $needle)" >>"$LOG"
		fail "$name"
	fi
}

summary() {
	echo "packaging: $PASSED passed, $FAILED failed"
}

cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for p in "$PKG" "$SIM_PKG"; do
		if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | has -v "not-installed"; then
			dpkg --purge "$p" >/dev/null 2>&1 || true
		fi
		if [[ -d $RPMDB ]] && rpm --dbpath "$RPMDB" -q "$p" >/dev/null 2>&1; then
			rpm --dbpath "$RPMDB" -e --nodeps "$p" >/dev/null 2>&1 || true
		fi
	done
	if [[ $USER_EXISTED == 0 ]]; then
		getent passwd edgespool >/dev/null && userdel edgespool >/dev/null 2>&1
		getent group edgespool >/dev/null && groupdel edgespool >/dev/null 2>&1
		rm -rf "$STATE" /etc/edgespool /var/log/edgespool
		# Enablement or mask links a failed remove/erase may have left.
		[[ $(readlink "$WANTS" 2>/dev/null) == */edgespool.service ]] && rm -f "$WANTS"
		[[ $(readlink /etc/systemd/system/edgespool.service 2>/dev/null) == /dev/null ]] &&
			rm -f /etc/systemd/system/edgespool.service
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers

file_mode() { stat -c '%a %U:%G' "$1"; }

as_service_user() { runuser -u edgespool -- "$@"; }

# deb_of DIR ARCH / rpm_of DIR ARCH print the one agent package of that arch
# in DIR; sim_deb_of / sim_rpm_of the drill tool's.
deb_of() { ls "$1"/edgespool_*_"$2".deb 2>/dev/null | head -n1; }
rpm_of() { ls "$1"/edgespool-[0-9]*."$2".rpm 2>/dev/null | head -n1; }
sim_deb_of() { ls "$1"/edgespool-sim_*_"$2".deb 2>/dev/null | head -n1; }
sim_rpm_of() { ls "$1"/edgespool-sim-[0-9]*."$2".rpm 2>/dev/null | head -n1; }

# has PATTERN...: grep that reads all its input (no SIGPIPE upstream under pipefail).
has() { grep "$@" >/dev/null; }

assert_eq() { # got want what
	if [[ $1 != "$2" ]]; then
		echo "$3: got '$1', want '$2'"
		return 1
	fi
}

# ---------------------------------------------------------------- agent round trip

# free_port prints a port nobody listens on, below the kernel's ephemeral
# range (outgoing connections take ports from that range at any moment).
free_port() {
	local p i lo=32768 span
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	span=$((lo - 10000))
	[[ $span -gt 1000 ]] || { lo=61000 span=4000; } # no room below the range
	for i in $(seq 50); do
		p=$((lo - span + RANDOM % span))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # seconds cmd...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[[ $SECONDS -lt $deadline ]] || return 1
		sleep 0.2
	done
}

stop_pid() { kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null; return 0; }

start_broker() { # dir; sets BROKER_PORT BROKER_PID
	# The free port may be taken between free_port and Mosquitto's bind (the
	# broker then logs "Address already in use" and exits): up to five
	# attempts, each on a new port. Up means alive, logged "running" (past
	# its listeners, so the open port is its own) and the port answers.
	local mosq attempt deadline log="$1/mosquitto.log"
	mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
	mkdir -p "$1"
	for attempt in 1 2 3 4 5; do
		BROKER_PORT=$(free_port) || return 1
		printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$BROKER_PORT" >"$1/mosquitto.conf"
		"$mosq" -c "$1/mosquitto.conf" >"$log" 2>&1 &
		BROKER_PID=$!
		PIDS+=("$BROKER_PID")
		deadline=$((SECONDS + 10))
		while kill -0 "$BROKER_PID" 2>/dev/null && ! grep -q 'Address already in use' "$log"; do
			grep -q ' running$' "$log" && port_open "$BROKER_PORT" && return 0
			if [[ $SECONDS -ge $deadline ]]; then
				port_open "$BROKER_PORT" && return 0 # no "running" line in this version's log
				echo "mosquitto not up within 10s:"
				cat "$log"
				return 1
			fi
			sleep 0.2
		done
		echo "mosquitto failed on port $BROKER_PORT (attempt $attempt of 5):"
		cat "$log"
		stop_pid "$BROKER_PID"
	done
	return 1
}

subscribed() { grep -q 'mqtt subscribed' "$1" 2>/dev/null; }

# agent_settled LOG: subscribed, or the agent already exited.
agent_settled() { subscribed "$1" || ! kill -0 "$AGENT_PID" 2>/dev/null; }

start_agent() { # dir attempt cmd...: runs `cmd run`, waits for the MQTT subscription
	local dir=$1 log="$1/agent.log.$2"
	shift 2
	"$@" run -config "$dir/agent.yaml" >"$log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	wait_for 90 agent_settled "$log"
	subscribed "$log" || { echo "agent did not subscribe:"; cat "$log"; return 1; }
}

# agent_roundtrip DIR CMD...: the agent started as `CMD run` takes N readings
# from a real Mosquitto into its spool (appends, group commits, acks); it is
# stopped, and `DUMP_CMD spool dump` reopens the spool and reads them back.
# Readings not yet acknowledged at a stop stay queued in the broker for the
# persistent session, so the agent is restarted (reopening the spool) until
# all N are read back.
agent_roundtrip() {
	local dir=$1 n=20 hport got=0 attempt i
	shift
	start_broker "$WORK/broker-$$-$RANDOM" || return 1
	hport=$(free_port) || return 1
	cat >"$dir/agent.yaml" <<-EOF
		mqtt:
		  broker: tcp://127.0.0.1:$BROKER_PORT
		  client_id: pkgtest-$$
		spool:
		  path: $dir/spool.db
		downsample:
		  enabled: false
		http:
		  listen: 127.0.0.1:$hport
	EOF
	chmod 0644 "$dir/agent.yaml"
	start_agent "$dir" 1 "$@" || return 1
	for i in $(seq "$n"); do
		printf '{"generatorID":"pkgtest","lat":40.7,"lon":-74.0,"temperature":200,"power":1000,"load":50,"fuel":%d,"seq":%d}\n' $((1000 - i)) "$i"
	done | mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t emergency_generator/pkgtest -l || return 1
	for attempt in 2 3 4 5 6; do
		sleep 2
		stop_pid "$AGENT_PID"
		got=$("${DUMP_CMD[@]}" spool dump -spool "$dir/spool.db" | grep -c '"key":"pkgtest"')
		echo "read back $got of $n readings"
		[[ $got == "$n" ]] && break
		start_agent "$dir" "$attempt" "$@" || return 1
	done
	stop_pid "$AGENT_PID"
	stop_pid "$BROKER_PID"
	[[ $got == "$n" ]]
}

expand_filter() { # @group: its system calls, nested groups expanded
	local x
	systemd-analyze syscall-filter "$1" | sed -n '2,$p' | sed 's/^ *//' | grep -v '^#' | grep -v '^$' |
		while read -r x; do
			case $x in
			@*) expand_filter "$x" ;;
			*) echo "$x" ;;
			esac
		done
}

# unit_values KEY: the values of KEY= in the installed unit, one per line.
unit_values() { sed -n "s/^$1=//p" "$UNIT_FILE"; }

expand_list() { # names and @groups -> system call names
	local x
	for x in "$@"; do
		case $x in
		@*) expand_filter "$x" ;;
		*) echo "$x" ;;
		esac
	done
}

# sandbox_check TRACE: everything an strace'd agent run did fits the sandbox
# the installed unit declares: SystemCallFilter, RestrictAddressFamilies,
# MemoryDenyWriteExecute, and ProtectSystem=strict with ReadWritePaths,
# StateDirectory, LogsDirectory and PrivateTmp (absolute paths written).
sandbox_check() {
	local t=$1 bad rc=0 f line allow=() deny=() families rw
	while read -r line; do
		[[ -z $line ]] && continue
		if [[ $line == ~* ]]; then
			read -ra f <<<"${line#\~}"
			deny+=("${f[@]}")
		else
			read -ra f <<<"$line"
			allow+=("${f[@]}")
		fi
	done < <(unit_values SystemCallFilter)
	[[ ${#allow[@]} -gt 0 ]] || { echo "unit has no SystemCallFilter allow list"; return 1; }
	expand_list "${allow[@]}" | sort -u >"$WORK/allow"
	expand_list "${deny[@]}" | sort -u >"$WORK/deny"
	comm -23 "$WORK/allow" "$WORK/deny" >"$WORK/permitted"
	[[ -s $WORK/permitted ]] || { echo "could not expand the filter"; return 1; }
	grep -oE '^[0-9]+ +[a-z0-9_]+\(' "$t" | sed -E 's/^[0-9]+ +//; s/\($//' | sort -u >"$WORK/used"
	echo "$(wc -l <"$WORK/used") distinct system calls: $(paste -sd' ' "$WORK/used")"
	[[ -s $WORK/used ]] || { echo "empty trace"; return 1; }
	bad=$(comm -23 "$WORK/used" "$WORK/permitted" | paste -sd' ')
	[[ -z $bad ]] || { echo "outside SystemCallFilter: $bad"; rc=1; }

	families=" $(unit_values RestrictAddressFamilies | paste -sd' ') "
	for f in $(grep -oE 'socket\(AF_[A-Z0-9]+' "$t" | sed 's/socket(//' | sort -u); do
		[[ $families == *" $f "* ]] || { echo "socket family $f outside RestrictAddressFamilies=$families"; rc=1; }
	done

	if [[ $(unit_values MemoryDenyWriteExecute) == yes ]] &&
		grep -E 'mmap\(.*(PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE)|mprotect\(.*PROT_EXEC' "$t"; then
		echo "writable+executable memory: MemoryDenyWriteExecute would refuse it"
		rc=1
	fi

	rw=$( {
		unit_values ReadWritePaths | tr ' ' '\n'
		unit_values StateDirectory | tr ' ' '\n' | sed 's|^|/var/lib/|'
		unit_values LogsDirectory | tr ' ' '\n' | sed 's|^|/var/log/|'
		[[ $(unit_values PrivateTmp) == yes ]] && printf '/tmp\n/var/tmp\n'
		echo /dev/null
	} | grep . | sort -u)
	echo "writable: $(paste -sd' ' <<<"$rw")"
	grep -E '^[0-9]+ +(openat\(.*(O_WRONLY|O_RDWR|O_CREAT)|mkdirat\(|unlinkat\(|renameat2?\(|linkat\(|symlinkat\(|truncate\()' "$t" |
		grep -oE '"/[^"]*"' | tr -d '"' | sort -u >"$WORK/written"
	while read -r f; do
		local ok=0 d
		while read -r d; do
			[[ $f == "$d" || $f == "$d"/* ]] && ok=1
		done <<<"$rw"
		[[ $ok == 1 ]] || { echo "write outside the writable paths: $f"; rc=1; }
	done <"$WORK/written"
	return $rc
}

# ---------------------------------------------------------------- build

DIST="$WORK/dist"

step_build() {
	check "build: packaging/build.sh builds all binaries and packages" \
		env EDGESPOOL_DIST="$DIST" bash packaging/build.sh
	VERSION=$(cat "$DIST/VERSION" 2>/dev/null || echo unknown)
	COMMIT=$(cat "$DIST/COMMIT" 2>/dev/null || echo unknown)
	echo "     version $VERSION, commit $COMMIT"
	check "build: stamped commit is a commit of this repository" git cat-file -e "$COMMIT^{commit}"
	local a
	for a in amd64 arm64 armhf; do
		check "build: .deb for $a" test -s "$(deb_of "$DIST" "$a")"
	done
	for a in x86_64 aarch64 armv7hl; do
		check "build: .rpm for $a" test -s "$(rpm_of "$DIST" "$a")"
	done
	for a in amd64 arm64 armhf; do
		check "build: edgespool-sim .deb for $a" test -s "$(sim_deb_of "$DIST" "$a")"
	done
	for a in x86_64 aarch64 armv7hl; do
		check "build: edgespool-sim .rpm for $a" test -s "$(sim_rpm_of "$DIST" "$a")"
	done
	check "build: SHA256SUMS verifies" bash -c "cd '$DIST' && sha256sum -c SHA256SUMS"
}

binary_settings() { # bin goarch [goarm]
	local m
	m=$(go version -m "$1") || return 1
	echo "$m"
	grep -q $'\tCGO_ENABLED=0$' <<<"$m" || { echo "not CGO_ENABLED=0"; return 1; }
	grep -q $'\t-trimpath=true$' <<<"$m" || { echo "not -trimpath"; return 1; }
	grep -q $'\tGOARCH='"$2"'$' <<<"$m" || { echo "not GOARCH=$2"; return 1; }
	if [[ -n ${3:-} ]]; then grep -q $'\tGOARM='"$3"'$' <<<"$m" || { echo "not GOARM=$3"; return 1; }; fi
	# -trimpath keeps -ldflags out of the build info: look for the stamp itself.
	grep -aqF -- "$VERSION" "$1" || { echo "version $VERSION not stamped"; return 1; }
	if command -v file >/dev/null; then
		file -L "$1" | tee /dev/stderr | has 'statically linked' || { echo "not static"; return 1; }
	fi
}

step_binaries() {
	check "binary: amd64 static, trimpath, stamped" binary_settings "$DIST/bin/linux_amd64/edgespool" amd64
	check "binary: arm64 static, trimpath, stamped" binary_settings "$DIST/bin/linux_arm64/edgespool" arm64
	check "binary: armv7 static, trimpath, stamped, GOARM=7" binary_settings "$DIST/bin/linux_armv7/edgespool" arm 7
	check "binary: edgespool-sim built for every arch" \
		test -x "$DIST/bin/linux_amd64/edgespool-sim" -a -x "$DIST/bin/linux_arm64/edgespool-sim" \
		-a -x "$DIST/bin/linux_armv7/edgespool-sim"
}

# ---------------------------------------------------------------- deb metadata

deb_metadata() { # deb debarch
	local f=$1
	assert_eq "$(dpkg-deb -f "$f" Package)" edgespool Package &&
		assert_eq "$(dpkg-deb -f "$f" Architecture)" "$2" Architecture &&
		assert_eq "$(dpkg-deb -f "$f" Version)" "$VERSION-1" Version &&
		dpkg-deb --ctrl-tarfile "$f" | tar -xO ./conffiles | tee "$WORK/conffiles" &&
		has -x "$CONF" "$WORK/conffiles" && has -x /etc/logrotate.d/edgespool "$WORK/conffiles" &&
		dpkg-deb -c "$f" >"$WORK/contents" &&
		for p in ./usr/bin/edgespool ./lib/systemd/system/edgespool.service ./etc/edgespool/edgespool.yaml \
			./etc/logrotate.d/edgespool \
			./usr/share/doc/edgespool/copyright ./usr/share/doc/edgespool/changelog.Debian.gz \
			./usr/share/doc/edgespool/examples/mosquitto-edgespool.conf \
			./usr/share/doc/edgespool/examples/grafana-dashboard.json \
			./usr/share/doc/edgespool/examples/prometheus-alerts.yml; do
			grep -q " $p\$" "$WORK/contents" || { echo "missing $p"; return 1; }
		done &&
		grep -q '^-rw-r----- root/edgespool .* ./etc/edgespool/edgespool.yaml$' "$WORK/contents" &&
		dpkg-deb --ctrl-tarfile "$f" | tar -t >"$WORK/control" &&
		for s in preinst postinst prerm postrm; do
			grep -qx "./$s" "$WORK/control" || { echo "missing $s"; return 1; }
		done
}

run_lintian() {
	# Errors fail; warnings and info are printed for the record.
	lintian --no-tag-display-limit "$@" | tee "$WORK/lintian.out"
	! grep -q '^E: ' "$WORK/lintian.out"
}

step_deb_metadata() {
	check "deb: amd64 control, conffiles, contents, scripts" deb_metadata "$(deb_of "$DIST" amd64)" amd64
	check "deb: arm64 control, conffiles, contents, scripts" deb_metadata "$(deb_of "$DIST" arm64)" arm64
	check "deb: armhf control, conffiles, contents, scripts" deb_metadata "$(deb_of "$DIST" armhf)" armhf
	check "lintian: no errors on the three .debs" run_lintian \
		"$(deb_of "$DIST" amd64)" "$(deb_of "$DIST" arm64)" "$(deb_of "$DIST" armhf)"
	grep -E '^[WI]: ' "$WORK/lintian.out" 2>/dev/null | sort -u | sed 's/^/     lintian /'
}

# ---------------------------------------------------------------- deb lifecycle

installed_layout() {
	local u
	u=$(getent passwd edgespool) || { echo "no edgespool user"; return 1; }
	echo "$u"
	local uid shell
	uid=$(cut -d: -f3 <<<"$u")
	shell=$(cut -d: -f7 <<<"$u")
	[[ $uid -lt 1000 ]] || { echo "uid $uid is not a system uid"; return 1; }
	[[ $shell == */nologin || $shell == /bin/false ]] || { echo "login shell $shell"; return 1; }
	assert_eq "$(file_mode "$STATE")" "750 edgespool:edgespool" "$STATE" &&
		assert_eq "$(file_mode "$CONF")" "640 root:edgespool" "$CONF" &&
		assert_eq "$(file_mode /usr/bin/edgespool)" "755 root:root" /usr/bin/edgespool &&
		test -f /lib/systemd/system/edgespool.service &&
		dpkg-query -W -f='${Conffiles}\n' "$PKG" | tee /dev/stderr | has "$CONF" &&
		{ test -L "$WANTS" || { echo "service not enabled ($WANTS)"; return 1; }; }
}

service_user_cannot_write_config() {
	if as_service_user sh -c "echo x >>$CONF" 2>/dev/null; then
		echo "service user could write $CONF"
		return 1
	fi
}

service_user_writes_state() {
	as_service_user sh -c "echo marker >$STATE/pkgtest-marker" && test -f "$STATE/pkgtest-marker"
}

unit_verify() {
	# Offline verification; no systemd needs to run.
	local rc=0
	systemd-analyze verify /lib/systemd/system/edgespool.service >"$WORK/verify.out" 2>&1 || rc=$?
	cat "$WORK/verify.out"
	# verify exits 0 on some warnings: fail on any complaint about the unit too.
	[[ $rc == 0 ]] && ! grep -E 'edgespool\.service:' "$WORK/verify.out"
}

unit_security() {
	local out score
	out=$(systemd-analyze security --offline=true /lib/systemd/system/edgespool.service 2>&1) || true
	score=$(grep -o 'Overall exposure level for edgespool.service: [0-9.]*' <<<"$out" | awk '{print $NF}')
	echo "exposure $score"
	echo "$score" >"$WORK/exposure"
	[[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
}

unit_keys() {
	local u=/lib/systemd/system/edgespool.service k
	for k in 'User=edgespool' 'Group=edgespool' \
		'ExecStart=/usr/bin/edgespool run -config /etc/edgespool/edgespool.yaml' \
		'Restart=on-failure' 'StateDirectory=edgespool' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
		'ProtectHome=yes' 'PrivateTmp=yes' 'ReadWritePaths=/var/lib/edgespool' 'CapabilityBoundingSet=' \
		'MemoryDenyWriteExecute=yes' 'Type=notify' 'NotifyAccess=main' 'ExecReload=/bin/kill -HUP $MAINPID' \
		'WatchdogSec=60'; do
		grep -qx -- "$k" "$u" || { echo "missing $k"; return 1; }
	done
	local t
	t=$(sed -n 's/^TimeoutStopSec=//p' "$u")
	[[ $t -gt 30 ]] || { echo "TimeoutStopSec=$t not above the drain deadline"; return 1; }
}

edit_config() {
	echo "# local edit $$" >>"$CONF" && grep -q "# local edit $$" "$CONF"
}

# The rebuilt package's default config differs from the installed one, so
# the upgrade meets a conffile changed on both sides: the local edit must win
# and the new default land next to it (SUFFIX .dpkg-dist or .rpmnew).
config_kept() { # suffix
	grep -q "# local edit $$" "$CONF" || { echo "local edit lost"; return 1; }
	! grep -q "# changed default" "$CONF" || { echo "new default overwrote the config"; return 1; }
	grep -q "# changed default" "$CONF$1" || { echo "new default not in $CONF$1"; return 1; }
	assert_eq "$(file_mode "$CONF")" "640 root:edgespool" "$CONF"
}

removed_state() {
	[[ ! -e /usr/bin/edgespool ]] || { echo "binary still there"; return 1; }
	[[ ! -e /lib/systemd/system/edgespool.service ]] || { echo "unit still there"; return 1; }
	getent passwd edgespool >/dev/null || { echo "user removed on remove"; return 1; }
	test -f "$STATE/pkgtest-marker" || { echo "spool directory not kept"; return 1; }
	grep -q "# local edit $$" "$CONF" || { echo "config not kept on remove"; return 1; }
	dpkg-query -W -f='${Status}\n' "$PKG" | tee /dev/stderr | has 'config-files'
}

purged_state() {
	! getent passwd edgespool || { echo "user still exists"; return 1; }
	! getent group edgespool || { echo "group still exists"; return 1; }
	[[ ! -e $STATE ]] || { echo "$STATE still exists"; return 1; }
	[[ ! -e /var/log/edgespool ]] || { echo "/var/log/edgespool still exists"; return 1; }
	[[ ! -e /etc/edgespool ]] || { echo "/etc/edgespool still exists"; return 1; }
	local l
	for l in /etc/systemd/system/multi-user.target.wants/edgespool.service \
		/etc/systemd/system/edgespool.service \
		/var/lib/systemd/deb-systemd-helper-enabled/edgespool.service; do
		[[ ! -e $l && ! -L $l ]] || { echo "$l left behind"; return 1; }
	done
	! dpkg-query -W -f='${Status}\n' "$PKG" 2>/dev/null | has ' installed$\|config-files'
}

step_deb_lifecycle() {
	local deb1 deb2 uid1
	deb1=$(deb_of "$DIST" amd64)
	if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | has -v not-installed; then
		echo "     note: purging an $PKG package left on this machine"
		dpkg --purge "$PKG" >/dev/null 2>&1
	fi
	check "deb: dpkg -i amd64" dpkg -i "$deb1"
	check "deb: system user, state dir 0750, config 0640 root:edgespool, conffile, enabled" installed_layout
	expect_contains "deb: edgespool version (version, commit, arch)" "$VERSION" /usr/bin/edgespool version
	expect_contains "deb: edgespool version names commit" "${COMMIT:0:12}" /usr/bin/edgespool version
	expect_contains "deb: edgespool version names arch" "linux/amd64" /usr/bin/edgespool version
	check "deb: check-config of the default config as the service user" \
		as_service_user /usr/bin/edgespool check-config -config "$CONF"
	check "deb: service user cannot write the config" service_user_cannot_write_config
	check "deb: service user writes the state directory" service_user_writes_state
	check "unit: required keys, TimeoutStopSec above drain deadline" unit_keys
	check "unit: systemd-analyze verify" unit_verify
	check "unit: systemd-analyze security exposure <= 2.0" unit_security
	echo "     exposure $(cat "$WORK/exposure" 2>/dev/null)"
	if command -v strace >/dev/null; then
		local dir=$STATE/pkgtest
		install -d -o edgespool -g edgespool -m 0750 "$dir"
		DUMP_CMD=(runuser -u edgespool -- /usr/bin/edgespool)
		check "deb: agent as the service user spools readings from Mosquitto; reopened spool reads back" \
			agent_roundtrip "$dir" strace -D -f -qq -A -o "$WORK/agent.trace" -u edgespool -- /usr/bin/edgespool
		check "unit: the agent's system calls, sockets, memory and writes fit the sandbox" \
			sandbox_check "$WORK/agent.trace"
		rm -rf "$dir"
	else
		echo "     note: strace not installed; sandbox check skipped"
	fi
	step_logrotate_installed
	uid1=$(id -u edgespool 2>/dev/null)

	check "deb: edit the config locally" edit_config
	cp packaging/edgespool.yaml "$WORK/edgespool-v2.yaml" && echo "# changed default" >>"$WORK/edgespool-v2.yaml"
	check "build: rebuild amd64 packages at a higher version, changed default config" \
		env EDGESPOOL_VERSION="$VERSION+pkgtest" EDGESPOOL_ARCHES=amd64 EDGESPOOL_DIST="$WORK/dist2" \
		EDGESPOOL_CONFIG="$WORK/edgespool-v2.yaml" bash packaging/build.sh
	deb2=$(deb_of "$WORK/dist2" amd64)
	# Unattended: keep the local conffile, as unattended-upgrades does.
	check "deb: dpkg -i upgrade" dpkg -i --force-confdef --force-confold "$deb2" </dev/null
	expect_contains "deb: upgraded binary reports the new version" "$VERSION+pkgtest" /usr/bin/edgespool version
	check "deb: upgrade keeps the edited config, new default in .dpkg-dist" config_kept .dpkg-dist
	check "deb: upgrade keeps the user and the spool" \
		bash -c "[ \"\$(id -u edgespool)\" = '$uid1' ] && test -f $STATE/pkgtest-marker"

	check "deb: dpkg -r" dpkg -r "$PKG"
	check "deb: remove keeps user, spool and config" removed_state
	install -d -o edgespool -g edgespool -m 0750 /var/log/edgespool && touch /var/log/edgespool/edgespool.log.1
	check "deb: dpkg -P" dpkg -P "$PKG"
	check "deb: purge removes user, group, spool and config" purged_state
}

# ---------------------------------------------------------------- rpm

rpm_metadata() { # rpm arch
	local f=$1
	rpm -qip "$f" &&
		assert_eq "$(rpm -qp --qf '%{NAME} %{ARCH}' "$f")" "edgespool $2" "name/arch" &&
		assert_eq "$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$f")" "$VERSION-1" version &&
		rpm -qlp "$f" | tee "$WORK/rpmfiles" &&
		for p in /usr/bin/edgespool /usr/lib/systemd/system/edgespool.service "$CONF" /etc/logrotate.d/edgespool \
			/usr/share/licenses/edgespool/copyright /usr/share/doc/edgespool/examples/mosquitto-edgespool.conf \
			/usr/share/doc/edgespool/examples/grafana-dashboard.json \
			/usr/share/doc/edgespool/examples/prometheus-alerts.yml; do
			grep -qx "$p" "$WORK/rpmfiles" || { echo "missing $p"; return 1; }
		done &&
		rpm -qp --configfiles "$f" | has -x "$CONF" &&
		# FILEFLAGS: c = %config, n = noreplace
		rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$f" | tee "$WORK/fflags" &&
		grep -qx "cn $CONF" "$WORK/fflags" && grep -qx "cn /etc/logrotate.d/edgespool" "$WORK/fflags" &&
		rpm -qp --scripts "$f" >"$WORK/scripts" &&
		for s in preinstall postinstall preuninstall postuninstall; do
			grep -q "^$s scriptlet" "$WORK/scripts" || { echo "missing $s scriptlet"; return 1; }
		done &&
		grep -q 'if \[ "\$1" -eq 0 \]' "$WORK/scripts" &&
		grep -q 'if \[ "\$1" -ge 1 \]' "$WORK/scripts" &&
		rpm -qp --changelog "$f" | has .
}

rpm_scratch_root() { # rpm
	local r="$WORK/rpmroot"
	rm -rf "$r" && mkdir -p "$r" &&
		rpm --root "$r" --dbpath /var/lib/rpm --initdb &&
		rpm --root "$r" --dbpath /var/lib/rpm -i --nodeps --noscripts --ignorearch "$1" &&
		rpm --root "$r" --dbpath /var/lib/rpm -q edgespool &&
		test -x "$r/usr/bin/edgespool" && test -f "$r$CONF" &&
		test -f "$r/usr/lib/systemd/system/edgespool.service" &&
		rpm --root "$r" --dbpath /var/lib/rpm -V --nouser --nogroup edgespool &&
		rpm --root "$r" --dbpath /var/lib/rpm -e --nodeps --noscripts edgespool &&
		[[ ! -e $r/usr/bin/edgespool && ! -e $r/usr/share/doc/edgespool ]]
}

rpm_host() { # args...: rpm against this machine's root with a private database
	rpm --dbpath "$RPMDB" "$@"
}

rpm_erased_state() {
	[[ ! -e /usr/bin/edgespool ]] || { echo "binary still there"; return 1; }
	getent passwd edgespool >/dev/null || { echo "erase removed the user"; return 1; }
	test -f "$STATE/pkgtest-marker" || { echo "erase removed the spool"; return 1; }
	[[ ! -e $WANTS && ! -L $WANTS ]] || { echo "erase left the service enabled"; return 1; }
}

step_rpm() {
	check "rpm: x86_64 -qip/-qlp/--configfiles noreplace/--scripts" rpm_metadata "$(rpm_of "$DIST" x86_64)" x86_64
	check "rpm: aarch64 -qip/-qlp/--configfiles noreplace/--scripts" rpm_metadata "$(rpm_of "$DIST" aarch64)" aarch64
	check "rpm: armv7hl -qip/-qlp/--configfiles noreplace/--scripts" rpm_metadata "$(rpm_of "$DIST" armv7hl)" armv7hl
	check "rpm: install into a scratch --root, verify, erase" rpm_scratch_root "$(rpm_of "$DIST" x86_64)"

	# The scriptlets for real ($1 handling), with a private rpm database.
	mkdir -p "$RPMDB" && rpm --dbpath "$RPMDB" --initdb
	check "rpm: install with scriptlets" rpm_host -i --nodeps "$(rpm_of "$DIST" x86_64)"
	check "rpm: %pre/%post created user and state dir" installed_layout_rpm
	check "rpm: check-config as the service user" as_service_user /usr/bin/edgespool check-config -config "$CONF"
	check "rpm: edit config, write spool marker" bash -c "echo '# local edit $$' >>$CONF && runuser -u edgespool -- touch $STATE/pkgtest-marker"
	check "rpm: upgrade (rpm -U) to the higher version" \
		rpm_host -U --nodeps "$(rpm_of "$WORK/dist2" x86_64)"
	check "rpm: upgrade keeps the edited config, new default in .rpmnew" config_kept .rpmnew
	expect_contains "rpm: upgraded binary reports the new version" "$VERSION+pkgtest" /usr/bin/edgespool version
	check "rpm: erase (rpm -e)" rpm_host -e --nodeps "$PKG"
	check "rpm: erase keeps user and spool, removes files" rpm_erased_state
	# Erase keeps them by design; remove them like an operator would.
	userdel edgespool >/dev/null 2>&1
	groupdel edgespool >/dev/null 2>&1
	rm -rf "$STATE" /etc/edgespool
}

installed_layout_rpm() {
	getent passwd edgespool &&
		assert_eq "$(file_mode "$STATE")" "750 edgespool:edgespool" "$STATE" &&
		assert_eq "$(file_mode "$CONF")" "640 root:edgespool" "$CONF" &&
		test -f /usr/lib/systemd/system/edgespool.service
}

# ---------------------------------------------------------------- qemu

qemu_spool_test() { # goarch goarm qemu
	local bin="$WORK/spool.$1.test" run
	CGO_ENABLED=0 GOOS=linux GOARCH=$1 GOARM=$2 go test -c -o "$bin" ./spool || return 1
	run=$(spool_selftest_pattern)
	[[ -n $run ]] || { echo "no spool append/reopen/read-back test found"; return 1; }
	echo "running $run"
	"$3" "$bin" -test.run "$run" -test.short -test.v -test.count=1 | tee "$WORK/spooltest.out"
	[[ ${PIPESTATUS[0]} == 0 ]] || return 1
	grep -q '^--- PASS' "$WORK/spooltest.out" || { echo "no test ran"; return 1; }
	! grep -q '^--- FAIL' "$WORK/spooltest.out"
}

# spool_selftest_pattern: the spool tests that append, close, reopen and read
# back (names as the spool package has them).
spool_selftest_pattern() {
	local names
	names=$(grep -ho '^func Test[A-Za-z0-9_]*Reopen[A-Za-z0-9_]*' spool/*_test.go 2>/dev/null |
		sed 's/^func //' | sort -u | paste -sd'|')
	[[ -n $names ]] && echo "^($names)\$"
}

step_qemu() {
	local q64 q32
	q64=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
	q32=$(command -v qemu-arm-static || command -v qemu-arm)
	expect_contains "qemu: arm64 edgespool version" "linux/arm64" "$q64" "$DIST/bin/linux_arm64/edgespool" version
	expect_contains "qemu: armv7 edgespool version" "linux/arm" "$q32" "$DIST/bin/linux_armv7/edgespool" version
	check "qemu: arm64 spool package append/reopen/read-back tests" qemu_spool_test arm64 "" "$q64"
	check "qemu: armv7 spool package append/reopen/read-back tests" qemu_spool_test arm 7 "$q32"
	mkdir -p "$WORK/qemu-arm64" "$WORK/qemu-armv7"
	DUMP_CMD=("$q64" "$DIST/bin/linux_arm64/edgespool")
	check "qemu: arm64 agent spools readings from Mosquitto; reopened spool reads back" \
		agent_roundtrip "$WORK/qemu-arm64" "${DUMP_CMD[@]}"
	DUMP_CMD=("$q32" "$DIST/bin/linux_armv7/edgespool")
	check "qemu: armv7 agent spools readings from Mosquitto; reopened spool reads back" \
		agent_roundtrip "$WORK/qemu-armv7" "${DUMP_CMD[@]}"
}

# ---------------------------------------------------------------- main

preflight() {
	[[ $(id -u) == 0 ]] || { echo "must run as root (dpkg -i, useradd)"; return 1; }
	local t
	for t in dpkg-deb lintian rpm systemd-analyze runuser go mosquitto_pub mosquitto_sub logrotate promtool; do
		command -v "$t" >/dev/null || { echo "missing $t"; return 1; }
	done
	command -v qemu-aarch64-static >/dev/null || command -v qemu-aarch64 >/dev/null || { echo "missing qemu-aarch64"; return 1; }
	command -v qemu-arm-static >/dev/null || command -v qemu-arm >/dev/null || { echo "missing qemu-arm"; return 1; }
}

# shellcheck source=packaging/test_configs.sh
source "$ROOT/packaging/test_configs.sh"
# shellcheck source=packaging/test_sim.sh
source "$ROOT/packaging/test_sim.sh"

main() {
	check "preflight: root and tools (dpkg, lintian, rpm, systemd-analyze, qemu, logrotate, promtool)" preflight
	if [[ $FAILED -gt 0 ]]; then summary; exit 1; fi
	if [[ $# -gt 0 ]]; then # only the named steps, e.g. `test.sh step_broker`
		local s
		for s in "$@"; do "$s"; done
		summary
		[[ $FAILED == 0 ]]
		return
	fi
	step_broker
	step_monitoring
	step_build
	if [[ $FAILED -gt 0 ]]; then
		echo "build failed; skipping the install tests"
		summary
		exit 1
	fi
	step_binaries
	step_broker_agent
	step_deb_metadata
	step_deb_lifecycle
	step_rpm
	step_sim
	step_qemu
	summary
	[[ $FAILED == 0 ]]
}

main "$@"
