"""Rebuild examples/demo.mbox from the golden corpus: genuine token mails and look-alikes.

python examples/make_demo.py
"""

from __future__ import annotations

import json
import mailbox
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).parent
CORPUS = HERE.parent / "tests" / "corpus"


def main() -> None:
    """Write demo.mbox in delivery order, each From_ line at the message's receive time."""
    entries = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    entries.sort(key=lambda e: e["received"])
    target = HERE / "demo.mbox"
    target.unlink(missing_ok=True)
    box = mailbox.mbox(str(target), create=True)
    try:
        for entry in entries:
            msg = mailbox.mboxMessage((CORPUS / entry["file"]).read_bytes())
            when = datetime.fromisoformat(entry["received"])
            msg.set_from("MAILER-DAEMON", when.utctimetuple())
            box.add(msg)
        box.flush()
    finally:
        box.close()
    print(f"wrote {target} ({len(entries)} messages)")


if __name__ == "__main__":
    main()
