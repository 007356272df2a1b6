"""Log in to Salesforce with the newest token from a mailbox (library use).

    INBOX_FINDER_SF_PASSWORD=... python examples/simple_salesforce_login.py \
        mbox:examples/demo.mbox dana@example.com

Without simple-salesforce installed (``pip install simple-salesforce``) it prints what it would
do instead of logging in, so it runs against the demo mailbox anywhere.
"""

from __future__ import annotations

import os
import sys

from inbox_finder import InboxFinderError, find_token


def main(source: str, username: str) -> int:
    """Find the token for ``username`` in ``source`` and hand it to simple-salesforce."""
    try:
        finding = find_token(source, username=username)
    except InboxFinderError as exc:
        print(f"no token: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    print(f"token for {finding.username} received {finding.received:%Y-%m-%d %H:%M %Z}")
    try:
        from simple_salesforce import Salesforce  # type: ignore[import-not-found]
    except ImportError:
        print("simple-salesforce is not installed; would log in now with this token")
        return 0
    password = os.environ["INBOX_FINDER_SF_PASSWORD"]  # never pass secrets in argv
    sf = Salesforce(username=username, password=password, security_token=finding.token)
    print(f"logged in: {sf.sf_instance}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
