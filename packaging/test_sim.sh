# Checks of the edgespool-sim (drill tool) packages, sourced by
# packaging/test.sh (uses its helpers, $DIST, $WORK, $VERSION, $SIM_PKG):
# the agent packages do not carry the tool; the tool's .deb and .rpm for every
# arch have the right metadata and files, pass lintian, install, run and
# remove cleanly.

SIM_BIN=/usr/bin/edgespool-sim

# no_sim_in_agent: neither agent package format of any arch ships the tool.
no_sim_in_agent() {
	local a f
	for a in amd64 arm64 armhf; do
		f=$(deb_of "$DIST" "$a")
		dpkg-deb -c "$f" | grep -F edgespool-sim && { echo "$f ships edgespool-sim"; return 1; }
	done
	for a in x86_64 aarch64 armv7hl; do
		f=$(rpm_of "$DIST" "$a")
		rpm -qlp "$f" | grep -F edgespool-sim && { echo "$f ships edgespool-sim"; return 1; }
	done
	return 0
}

sim_deb_metadata() { # deb debarch
	local f=$1 p
	assert_eq "$(dpkg-deb -f "$f" Package)" "$SIM_PKG" Package &&
		assert_eq "$(dpkg-deb -f "$f" Architecture)" "$2" Architecture &&
		assert_eq "$(dpkg-deb -f "$f" Version)" "$VERSION-1" Version &&
		assert_eq "$(dpkg-deb -f "$f" Replaces)" "edgespool (<< $VERSION)" Replaces &&
		assert_eq "$(dpkg-deb -f "$f" Breaks)" "edgespool (<< $VERSION)" Breaks &&
		dpkg-deb -c "$f" | tee "$WORK/sim-contents" || return 1
	for p in ./usr/bin/edgespool-sim ./usr/share/doc/edgespool-sim/copyright \
		./usr/share/doc/edgespool-sim/changelog.Debian.gz \
		./usr/share/doc/edgespool-sim/examples/quick.yaml ./usr/share/doc/edgespool-sim/examples/soak.yaml; do
		grep -q " $p\$" "$WORK/sim-contents" || { echo "missing $p"; return 1; }
	done
	grep -q '^-rwxr-xr-x root/root .* ./usr/bin/edgespool-sim$' "$WORK/sim-contents" || { echo "binary mode"; return 1; }
	# Nothing of the agent: no unit, config, user scripts.
	! grep -E 'systemd|/etc/|/usr/bin/edgespool$' "$WORK/sim-contents" || { echo "agent files in the sim package"; return 1; }
	! dpkg-deb --ctrl-tarfile "$f" | tar -t | grep -E 'preinst|postinst|prerm|postrm|conffiles'
}

sim_rpm_metadata() { # rpm arch
	local f=$1 p
	assert_eq "$(rpm -qp --qf '%{NAME} %{ARCH}' "$f")" "$SIM_PKG $2" "name/arch" &&
		assert_eq "$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$f")" "$VERSION-1" version &&
		rpm -qlp "$f" | tee "$WORK/sim-rpmfiles" || return 1
	for p in "$SIM_BIN" /usr/share/licenses/edgespool-sim/copyright \
		/usr/share/doc/edgespool-sim/examples/quick.yaml /usr/share/doc/edgespool-sim/examples/soak.yaml; do
		grep -qx "$p" "$WORK/sim-rpmfiles" || { echo "missing $p"; return 1; }
	done
	! grep -E 'systemd|^/etc/|^/usr/bin/edgespool$' "$WORK/sim-rpmfiles" || { echo "agent files in the sim package"; return 1; }
	rpm -qp --changelog "$f" | has . &&
		! rpm -qp --obsoletes "$f" | grep . # never obsoletes the agent
}

# sim_deb_lifecycle: installs beside the agent's files without clashing,
# runs, and purges leaving nothing.
sim_deb_lifecycle() {
	dpkg -i "$(sim_deb_of "$DIST" amd64)" &&
		assert_eq "$(file_mode "$SIM_BIN")" "755 root:root" "$SIM_BIN" &&
		"$SIM_BIN" help | tee /dev/stderr | has 'usage: edgespool-sim' &&
		dpkg -P "$SIM_PKG" &&
		[[ ! -e $SIM_BIN && ! -e /usr/share/doc/edgespool-sim ]]
}

sim_rpm_scratch_root() { # rpm
	local r="$WORK/sim-rpmroot"
	rm -rf "$r" && mkdir -p "$r" &&
		rpm --root "$r" --dbpath /var/lib/rpm --initdb &&
		rpm --root "$r" --dbpath /var/lib/rpm -i --nodeps --ignorearch "$1" &&
		test -x "$r$SIM_BIN" &&
		rpm --root "$r" --dbpath /var/lib/rpm -V "$SIM_PKG" &&
		rpm --root "$r" --dbpath /var/lib/rpm -e "$SIM_PKG" &&
		[[ ! -e $r$SIM_BIN ]]
}

step_sim() {
	check "sim: the agent packages (deb and rpm, every arch) do not ship edgespool-sim" no_sim_in_agent
	local a
	for a in amd64 arm64 armhf; do
		check "sim: $a .deb control, contents, no agent files" sim_deb_metadata "$(sim_deb_of "$DIST" "$a")" "$a"
	done
	for a in x86_64 aarch64 armv7hl; do
		check "sim: $a .rpm name, version, files, changelog" sim_rpm_metadata "$(sim_rpm_of "$DIST" "$a")" "$a"
	done
	check "sim: lintian, no errors on the three .debs" run_lintian \
		"$(sim_deb_of "$DIST" amd64)" "$(sim_deb_of "$DIST" arm64)" "$(sim_deb_of "$DIST" armhf)"
	grep -E '^[WI]: ' "$WORK/lintian.out" 2>/dev/null | sort -u | sed 's/^/     lintian /'
	check "sim: dpkg -i amd64, edgespool-sim runs, dpkg -P leaves nothing" sim_deb_lifecycle
	check "sim: rpm install into a scratch --root, verify, erase" sim_rpm_scratch_root "$(sim_rpm_of "$DIST" x86_64)"
}
