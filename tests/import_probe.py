"""Run the CLI in a fresh interpreter and see which modules it loaded."""

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


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """The last line ``python -c code args…`` printed (it must exit 0)."""
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


def cli_modules(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """``inbox-finder args…`` with no INBOX_FINDER_* variable and an empty config home:
    its exit code and every module it loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_FINDER_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    result = json.loads(run_python(PROBE, *args, env=env))
    return result["code"], set(result["modules"])
