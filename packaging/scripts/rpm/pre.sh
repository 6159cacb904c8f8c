# %pre for the edgespool .rpm ($1: 1 = install, 2 = upgrade).
# Create the system user before the files are laid down, so the config file
# gets its group (root:edgespool 0640).
if ! getent group edgespool >/dev/null; then
    groupadd --system edgespool || exit 1
fi
if ! getent passwd edgespool >/dev/null; then
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    [ -x "$nologin" ] || nologin=/bin/false
    useradd --system --gid edgespool --home-dir /var/lib/edgespool \
        --no-create-home --shell "$nologin" \
        --comment "edgespool edge agent" edgespool || exit 1
fi
exit 0
