"""Start-up: what ``find`` imports, and the shortcuts that keep it small stay exact.

``imapclient.version`` is answered from imapclient's dist-info folder (providers/imap), and
``--shard`` and the concurrent search of several sources (``inbox_finder.many``) load only
when used. A shortcut must give what the slow way gives.
"""

from __future__ import annotations

import json
from pathlib import Path

from import_probe import cli_modules, run_python

# Not needed to find a token in one local or IMAP source (bench/bench_startup.py measures why).
DEFERRED = (
    "importlib.metadata",
    "concurrent.futures",
    "hashlib",
    "zipfile",
    "inbox_finder.many",
)


def test_imapclient_version_without_importlib_metadata() -> None:
    out = run_python(
        "import sys, json\n"
        "import inbox_finder.providers.imap.provider\n"
        "import imapclient\n"
        "before = 'importlib.metadata' in sys.modules\n"
        "from importlib.metadata import version\n"
        "print(json.dumps([before, imapclient.__version__, version('imapclient'),"
        " list(imapclient.version_info)]))"
    )
    before, shim, real, info = json.loads(out)
    assert before is False
    assert shim == real
    assert info == [*map(int, real.split(".")), "final"]


def test_local_find_leaves_the_deferred_modules_alone(tmp_path: Path) -> None:
    empty = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (empty / sub).mkdir(parents=True)
    code, modules = cli_modules(tmp_path, "find", f"maildir:{empty}")
    assert code == 1  # nothing found, and nothing deferred was needed for that
    assert not [m for m in DEFERRED if m in modules]
