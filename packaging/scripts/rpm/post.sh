# %post for the edgespool .rpm ($1: 1 = install, 2 = upgrade).
if [ ! -d /var/lib/edgespool ]; then
    install -d -m 0750 -o edgespool -g edgespool /var/lib/edgespool
fi
if command -v systemctl >/dev/null 2>&1; then
    if [ "$1" -eq 1 ]; then
        # Like %systemd_post: enabled only if the distribution preset says so;
        # works offline, so it is safe without systemd as PID 1.
        systemctl --no-reload preset edgespool.service >/dev/null 2>&1 || :
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
    fi
fi
exit 0
