"""Start-up: what ``find`` imports, and the shortcuts that keep it small stay exact.

``imapclient.version`` is answered from imapclient's dist-info folder (providers/imap), and
``--shard`` / several sources' modules load only when used (many.py). A shortcut must give
what the slow way gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from inbox_finder.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
# Not needed to find a token in one local or IMAP source (bench/bench_startup.py measures why).
DEFERRED = ("importlib.metadata", "concurrent.futures", "hashlib", "zipfile")


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()[-1]


def test_imapclient_version_without_importlib_metadata() -> None:
    out = _run(
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_FINDER_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    result = json.loads(_run(PROBE, "find", f"maildir:{empty}", env=env))
    assert result["code"] == 1  # nothing found, and nothing deferred was needed for that
    assert not [m for m in DEFERRED if m in result["modules"]]
