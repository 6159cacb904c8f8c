# %postun for the edgespool .rpm ($1: 0 = erase, 1 = upgrade).
# Erase keeps /var/lib/edgespool (unsent data) and the edgespool user, as RPM
# packages do for accounts and state; remove them by hand if wanted:
#   rm -rf /var/lib/edgespool && userdel edgespool
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        # Upgrade: restart the agent on the new binary if it was running.
        systemctl try-restart edgespool.service >/dev/null 2>&1 || :
    fi
fi
exit 0
