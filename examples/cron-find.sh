#!/bin/sh
# Print the current token for one username from a cron job; exit status tells what happened
# (0 found, 1 none, 2 config, 3 auth, 4 mailbox unreachable). Secrets come from the
# environment or the config's password_env / password_cmd, never from the command line.
#
#   */30 * * * *  WORK_IMAP_PASSWORD=... /path/to/cron-find.sh >/dev/null
set -eu
exec inbox-finder find work --username dana@example.com --json
