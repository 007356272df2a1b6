"""``--exec`` hook: write a new token into a simple-salesforce JSON config.

    inbox-finder scan work --state ~/.local/state/sf.state -q \
        --exec "python examples/rotate_simple_salesforce_config.py ~/etl/salesforce.json"

The token arrives in the environment (INBOX_FINDER_TOKEN) and as JSON on stdin, never in argv.
The config file looks like {"username": ..., "password": ..., "security_token": ...}; it is
replaced atomically and keeps its owner, group and mode (a symlink is written through).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from inbox_finder.fileutil import write_private


def main(config_path: str) -> int:
    """Replace ``security_token`` when the finding is for this config's username."""
    finding = json.load(sys.stdin)
    path = Path(config_path).expanduser()
    config = json.loads(path.read_text(encoding="utf-8"))
    if (finding["username"] or "").lower() != config.get("username", "").lower():
        return 0  # another username's token (or a legacy mail naming none): not ours
    config["security_token"] = os.environ["INBOX_FINDER_TOKEN"]
    write_private(path, json.dumps(config, indent=2) + "\n", create_dirs=False)
    print(f"rotated token for {config.get('username')} in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
