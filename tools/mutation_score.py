"""Summarise a finished ``mutmut run`` (``make mutation``): the score per module and the survivors.

Reads ``mutmut results --all true`` (run from the project root, after ``mutmut run``) and the
equivalent mutants listed in TESTING.md (names in backticks under "Equivalent mutants").
Killed means a test failed or the mutant hung until the timeout; a survivor or a mutant no
selected test reaches counts against the score unless TESTING.md lists it as equivalent.
Exits 1 when the score is below ``--min`` or a survivor is not listed (so the habit holds).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = {"killed", "timeout"}
_NAME = re.compile(r"`(inbox_finder\.[^`\s]+__mutmut_\d+)`")


def results(mutmut: str) -> dict[str, str]:
    """mutant name -> status, as mutmut reports it."""
    out = subprocess.run(
        [mutmut, "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status.strip()
    return found


def equivalents(testing_md: Path) -> set[str]:
    """Mutant names listed in TESTING.md's "Equivalent mutants" section."""
    text = testing_md.read_text(encoding="utf-8")
    start = text.find("## Equivalent mutants")
    if start < 0:
        return set()
    end = text.find("\n## ", start + 1)
    return set(_NAME.findall(text[start : end if end > 0 else None]))


def module_of(name: str) -> str:
    """``inbox_finder.mail.extract`` from ``inbox_finder.mail.extract.x_extract__mutmut_3``."""
    parts = name.split(".")
    return ".".join(p for p in parts[:-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutmut", default=str(Path(sys.executable).with_name("mutmut")))
    parser.add_argument("--min", type=float, default=90.0, help="lowest acceptable score (%%)")
    args = parser.parse_args()
    status = results(args.mutmut)
    if not status:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 2
    listed = equivalents(ROOT / "TESTING.md")
    per_module: dict[str, Counter[str]] = defaultdict(Counter)
    unexplained = []
    for name, state in sorted(status.items()):
        counts = per_module[module_of(name)]
        counts["total"] += 1
        if state in KILLED:
            counts["killed"] += 1
        elif name in listed:
            counts["equivalent"] += 1
        else:
            counts["survived"] += 1
            unexplained.append(f"{name}: {state}")
    total = Counter[str]()
    print(
        f"{'module':26} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'left':>5} "
        f"{'killed/all':>10} {'score':>7}"
    )
    for module, counts in sorted(per_module.items()):
        total.update(counts)
        print(_row(module, counts))
    print(_row("all", total))
    for line in unexplained:
        print("not killed and not listed as equivalent:", line)
    stale = listed - set(status)
    for name in sorted(stale):
        print("listed as equivalent but no such mutant now:", name)
    score = _score(total)
    return 0 if score >= args.min and not unexplained else 1


def _score(counts: Counter[str]) -> float:
    """Killed share of the mutants that are not equivalent, in per cent."""
    real = counts["total"] - counts["equivalent"]
    return 100.0 * counts["killed"] / real if real else 100.0


def _row(module: str, counts: Counter[str]) -> str:
    raw = 100.0 * counts["killed"] / counts["total"] if counts["total"] else 100.0
    return (
        f"{module:26} {counts['total']:>7} {counts['killed']:>7} {counts['equivalent']:>7} "
        f"{counts['survived']:>5} {raw:>9.1f}% {_score(counts):>6.1f}%"
    )


if __name__ == "__main__":
    sys.exit(main())
