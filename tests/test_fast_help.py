"""The console script answers ``--help``/``-h``/``--version`` without click, byte for byte as
click would, and hands every other width and argument list to click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inbox_finder.cli import helpgen, helptext
from inbox_finder.cli.entry import fast_answer

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("inbox-finder"))
CLICK_ONLY = "from inbox_finder.cli.main import run; run()"


def _run(argv: list[str], columns: str | None, **extra: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    env.update(extra)
    return subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)


@pytest.mark.parametrize("columns", [None, "40", "52", "79", "80", "81", "99", "100", "102", "300"])
@pytest.mark.parametrize("arg", ["--help", "-h", "--version"])
def test_console_script_prints_what_click_prints(columns: str | None, arg: str) -> None:
    fast = _run([CONSOLE_SCRIPT, arg], columns)
    slow = _run([sys.executable, "-c", CLICK_ONLY, arg], columns)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )
    assert fast.returncode == 0
    assert fast.stdout.startswith(b"Usage: inbox-finder" if arg != "--version" else b"inbox-finder")


def test_python_dash_m_goes_through_the_same_entry() -> None:
    fast = _run([sys.executable, "-m", "inbox_finder", "--help"], "80")
    assert fast.stdout.decode() == helptext.HELP[78]


@pytest.mark.parametrize("width", helpgen.WIDTHS)
def test_stored_help_is_current(width: int) -> None:
    # Fails after any change to the group's help, options or commands until
    # `make help-text` (python -m inbox_finder.cli.helpgen) is rerun.
    assert helptext.HELP[width] == helpgen.render(width)
    assert helpgen.module_text() == Path(helptext.__file__).read_text(encoding="utf-8")


def test_fast_path_imports_no_click() -> None:
    probe = (
        "import sys; from inbox_finder.cli.entry import fast_answer; "
        "text = fast_answer(['--help']); "
        "print(text is not None, 'click' in sys.modules, 'inbox_finder.cli.main' in sys.modules)"
    )
    out = _run([sys.executable, "-c", probe], "80")
    assert out.stdout.split() == [b"True", b"False", b"False"], out.stderr


@pytest.mark.parametrize(
    "args",
    [[], ["--help", "find"], ["find", "--help"], ["--HELP"], ["--version", "--help"], ["-hv"]],
)
def test_other_arguments_are_left_to_click(args: list[str]) -> None:
    assert fast_answer(args) is None


def test_width_without_a_stored_text_is_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert fast_answer(["--help"]) is None
    monkeypatch.setenv("COLUMNS", "80")
    assert fast_answer(["--help"]) == helptext.HELP[78]


def test_stdout_that_is_not_utf8_is_left_to_click() -> None:
    # The stored text is written through a text stream only when that stream is UTF-8; for
    # any other encoding click's own echo decides what reaches the bytes.
    probe = (
        "import sys; from inbox_finder.cli import entry; "
        "entry.__dict__['_click'] = lambda: print('click path') or sys.exit(0); "
        "sys.argv = ['inbox-finder', '--help']; entry.run()"
    )
    for encoding, expected in (("ascii", b"click path"), ("utf-8", b"Usage:")):
        out = _run([sys.executable, "-c", probe], "80", PYTHONIOENCODING=encoding)
        assert out.stdout.startswith(expected), (encoding, out.stdout[:80], out.stderr)
    fast = _run([CONSOLE_SCRIPT, "--help"], "80", PYTHONIOENCODING="ascii")
    slow = _run([sys.executable, "-c", CLICK_ONLY, "--help"], "80", PYTHONIOENCODING="ascii")
    assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout)


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_closed_pipe_is_a_quiet_exit_like_clicks(arg: str) -> None:
    def closed(argv: list[str]) -> tuple[int, bytes]:
        read_end, write_end = os.pipe()
        os.close(read_end)  # `inbox-finder --help | true` where true has already gone
        try:
            proc = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, timeout=60)
        finally:
            os.close(write_end)
        return proc.returncode, proc.stderr

    fast = closed([CONSOLE_SCRIPT, arg])
    assert fast == closed([sys.executable, "-c", CLICK_ONLY, arg])
    assert fast == (1, b"")
