# %preun for the edgespool .rpm ($1: 0 = erase, 1 = upgrade).
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    # Erase: disable (offline-safe) and stop; the agent drains on SIGTERM.
    systemctl --no-reload disable edgespool.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl stop edgespool.service >/dev/null 2>&1 || :
    fi
fi
exit 0
