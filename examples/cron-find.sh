#!/bin/sh
# Cron health check: can inbox-finder still find the token email of one Salesforce username?
# cron mails whatever a job prints, so this prints nothing when all is well and one line on
# stderr otherwise (also inbox-finder's warning when a newer token mail yielded no token);
# the token itself goes to /dev/null, never into mail.
#
#   */30 * * * *  $HOME/bin/cron-find.sh work dana@example.com
#
# Secrets come from secrets.env (KEY=value lines such as WORK_IMAP_PASSWORD=..., chmod 600;
# the same file the systemd units read), exported with `set -a`, or from the config's
# password_cmd or the keyring; never from the command line.
# Exit status: 0 found, 1 no token email, 2 config, 3 auth, 4 mailbox unreachable.
set -eu
usage="usage: cron-find.sh SOURCE USERNAME"
source=${1:?$usage}
username=${2:?$usage}
secrets=${INBOX_FINDER_SECRETS:-$HOME/.config/inbox-finder/secrets.env}
if [ -f "$secrets" ]; then
    set -a
    . "$secrets"
    set +a
fi
PATH=$HOME/.local/bin:$PATH
status=0
inbox-finder find "$source" --username "$username" -q >/dev/null || status=$?
case $status in
    0) ;;
    1) echo "cron-find: no token email for $username in $source" >&2 ;;
    *) echo "cron-find: inbox-finder exited with status $status" >&2 ;;
esac
exit "$status"
