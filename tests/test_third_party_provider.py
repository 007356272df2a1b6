"""A provider package built outside the repository runs the shipped contracts by subclassing.

The package (``tests/third_party``: its provider module, and its own tests in ``acme_tests.py``,
a name this repository's pytest run does not collect) is copied into
``tmp_path`` together with a ``.dist-info`` whose ``entry_points.txt`` declares the scheme, put
on ``PYTHONPATH``, and tested by a separate pytest process rooted there: nothing from this
repository's tests/ is importable, exactly as for a third party.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent / "third_party"


def _install(site: Path) -> None:
    """What ``pip install`` of a package declaring the entry point leaves on sys.path."""
    site.mkdir()
    shutil.copy(HERE / "acme_mail.py", site / "acme_mail.py")
    info = site / "acme_mail-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-mail\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[inbox_finder.providers]\nacmedir = acme_mail:AcmeProvider\n"
    )


def test_outside_package_passes_both_contracts(tmp_path: Path) -> None:
    _install(tmp_path / "site")
    project = tmp_path / "acme-project"
    (project / "tests").mkdir(parents=True)
    shutil.copy(HERE / "acme_tests.py", project / "tests" / "test_acme_contracts.py")
    (project / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    env.pop("INBOX_FINDER_CONFIG", None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    # Both contracts, each through the entry point and through register_provider.
    assert passed >= 2 * (12 + 15) + 1, summary
    assert "failed" not in summary and "skipped" not in summary and "error" not in summary
    print(summary)


def test_the_package_does_not_import_this_repositorys_tests(tmp_path: Path) -> None:
    text = (HERE / "acme_tests.py").read_text() + (HERE / "acme_mail.py").read_text()
    imports = re.findall(r"^(?:from|import) (\S+)", text, re.MULTILINE)
    assert {i.split(".")[0] for i in imports} <= {
        "__future__",
        "acme_mail",
        "collections",
        "datetime",
        "inbox_finder",
        "itertools",
        "pathlib",
        "pytest",
        "re",
        "shutil",
    }
