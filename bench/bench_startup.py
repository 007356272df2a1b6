"""Benchmark 4: CLI start-up, and proof that no Google/Microsoft SDK is imported.

Usage (from the repository root)::

    .venv/bin/python -m bench.bench_startup              # 20 interleaved runs each, ~30 s
    .venv/bin/python -m bench.bench_startup --runs 50

Commands, run round-robin (order rotating each round, 2 warm-up rounds discarded) so that
load from other processes hits them alike; the interpreter is the venv's (``sys.executable``):

* ``python -c pass``                        -- the bare interpreter start (the reference);
* ``import argparse``, ``import click``, click + ``email.parser/policy/utils``, and that plus
  the provider entry-point scan -- floors that show what the find path's dependencies cost;
* ``python -c "import inbox_finder.cli.main"``   -- our imports alone;
* the system CA store (``ssl.create_default_context()``, what any TLS client loads) and, if
  installed, the imap_tools one-liner's imports plus that store -- the baseline's start-up;
* ``inbox-finder --help`` (target <= 1.5x);
* ``inbox-finder find maildir:EMPTY``       -- a real lookup on an empty Maildir (exit 1);
* ``inbox-finder find closed``              -- the IMAP path: a profile naming an IMAPS URL on
  a closed loopback port, no retries (imports, TLS context, one refused connect; exit 4).
  Both ``find`` rows have the target <= 2.0x.

With imap_tools installed, the IMAP path's imports beyond the imap_tools one-liner's are
timed by group (click, imapclient, platformdirs, other stdlib, inbox_finder's own modules and
the dataclass creation within them), each group after the ones before it in one child.

Then ``python -X importtime`` for ``import inbox_finder.cli.main`` and for the whole ``find`` path
lists the costliest imports, and both paths' ``sys.modules`` are checked for Google/Microsoft
SDK modules (googleapiclient, google.*, google_auth_oauthlib, msal, requests, httplib2, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.gen_mailbox import BENCH_DIR, ensure_empty_maildir

PY = sys.executable
ENV: dict[str, str] = dict(os.environ)  # main() points XDG_CONFIG_HOME at the closed profile
REPO = Path(__file__).resolve().parent.parent
CLI = str(Path(PY).with_name("inbox-finder"))
FORBIDDEN = (
    "googleapiclient",
    "google",
    "google_auth_oauthlib",
    "google_auth_httplib2",
    "msal",
    "requests",
    "httplib2",
    "oauthlib",
    "requests_oauthlib",
    "urllib3",
    "imapclient",
)
# inbox-finder command -> target ratio to `python -c pass` (the other rows are floors).
TARGETS = {"--help": 1.5, "find": 2.0}
EMAIL = "import email.parser, email.policy, email.utils"
ENTRY_POINTS = (
    "from importlib.metadata import entry_points; entry_points(group='inbox_finder.providers')"
)


CA_STORE = "import ssl; ssl.create_default_context()"
IMAP_TOOLS = "from imap_tools import A, MailBox; import re"
CLOSED = "find closed  (imaps:// profile, closed port)"


def target(name: str) -> float | None:
    """The target ratio of an ``inbox-finder`` row (None for floors)."""
    if not name.startswith("inbox-finder "):
        return None
    return TARGETS.get(name.split()[1])


def closed_port_config(base: Path) -> Path:
    """An XDG config dir whose profile ``closed`` is an IMAPS URL on a closed loopback port
    with no retries: the IMAP path's whole start-up (imports, TLS context, connect) in one
    refused connection (exit 4)."""
    from inbox_finder.testing.dovecot import free_port

    conf = base / "xdg-startup" / "inbox-finder"
    conf.mkdir(parents=True, exist_ok=True)
    url = f"imaps://u@127.0.0.1:{free_port()}"
    (conf / "config.toml").write_text(f'[mailbox.closed]\nurl = "{url}"\nretries = 0\n')
    return conf.parent


def commands(empty: Path) -> dict[str, list[str]]:
    extra = {}
    try:
        import imap_tools  # noqa: F401 - only to know whether its floor can be measured
    except ImportError:
        pass
    else:
        extra['python -c "<imap_tools one-liner imports>" + CA store'] = [
            PY,
            "-c",
            f"{IMAP_TOOLS}; {CA_STORE}",
        ]
    return {
        "python -c pass": [PY, "-c", "pass"],
        'python -c "import argparse"': [PY, "-c", "import argparse"],
        'python -c "import click"': [PY, "-c", "import click"],
        "click + email.parser/policy/utils": [PY, "-c", f"import click; {EMAIL}"],
        "... + entry_points(group=inbox_finder.providers)": [
            PY,
            "-c",
            f"import click; {EMAIL}; {ENTRY_POINTS}",
        ],
        'python -c "import inbox_finder.cli.main"': [PY, "-c", "import inbox_finder.cli.main"],
        'python -c "<system CA store>"': [PY, "-c", CA_STORE],
        **extra,
        "inbox-finder --help": [CLI, "--help"],
        "inbox-finder find maildir:EMPTY": [CLI, "find", f"maildir:{empty}"],
        f"inbox-finder {CLOSED}": [CLI, "find", "closed"],
    }


def time_once(cmd: list[str]) -> float:
    started = time.perf_counter()
    rc = subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    elapsed = time.perf_counter() - started
    if rc not in (0, 1, 4):
        raise RuntimeError(f"{cmd} exited {rc}")
    return elapsed


def importtime(code: str) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) for every import ``code`` makes, from -X importtime."""
    proc = subprocess.run(
        [PY, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**ENV, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = (p.strip() for p in line.split(":", 1)[1].split("|"))
        rows.append((name, int(self_us), int(cumulative)))
    return rows


def modules_loaded(code: str) -> list[str]:
    """``sys.modules`` after running ``code`` (printed as JSON by the child)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [PY, "-c", probe], capture_output=True, text=True, check=False, env=ENV
    ).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


# What the IMAP find path imports beyond the imap_tools one-liner, in this order, each group
# timed in one child after the previous ones (so a module is charged to the first group
# that needs it); everything of inbox_finder last, so that row is our own code alone.
GAP_GROUPS = ("click", "imapclient", "email", "html", "platformdirs")
GAP_PROBE = """
import dataclasses, importlib, json, sys, time
base, groups = json.loads(sys.argv[1])
created = [0.0]
make = dataclasses._process_class
def timed(*args, **kwargs):
    started = time.perf_counter()
    try:
        return make(*args, **kwargs)
    finally:
        created[0] += time.perf_counter() - started
for name in base:
    importlib.import_module(name)
out = {}
for label, names in groups:
    if label == "inbox_finder":
        dataclasses._process_class = timed
    started = time.perf_counter()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    out[label] = time.perf_counter() - started
out["dataclass creation in inbox_finder"] = created[0]
print(json.dumps(out))
"""


def import_gap(path_code: str, runs: int) -> list[str]:
    """Markdown: the IMAP path's imports beyond imap_tools', by group (median of ``runs``)."""
    base = [m for m in modules_loaded(IMAP_TOOLS) if not m.startswith(("__", "encodings"))]
    extra = [m for m in modules_loaded(path_code) if m not in set(base) and m != "__main__"]
    groups: list[tuple[str, list[str]]] = []
    for label in GAP_GROUPS:
        names = [m for m in extra if m.split(".")[0] == label]
        if names:  # e.g. email and html load only once a message is parsed
            groups.append((label, names))
    claimed = {m for _, names in groups for m in names}
    own = [m for m in extra if m.split(".")[0] == "inbox_finder"]
    groups.append(("other stdlib", [m for m in extra if m not in claimed and m not in own]))
    groups.append(("inbox_finder", own))
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [PY, "-c", GAP_PROBE, json.dumps([base, groups])],
            capture_output=True,
            text=True,
            check=True,
            env=ENV,
        )
        for label, seconds in json.loads(proc.stdout).items():
            samples.setdefault(label, []).append(seconds)
    sizes = {label: len(names) for label, names in groups}
    out = [
        "",
        f"Imports of the IMAP `find` path beyond the imap_tools one-liner's {len(base)} modules, "
        f"each group timed after the ones above it in one child (median of {runs}):",
        "",
        "| group | modules | ms |",
        "|---|---:|---:|",
    ]
    for label, values in samples.items():
        count = sizes.get(label)
        out.append(
            f"| {label} | {'' if count is None else count} | "
            f"{statistics.median(values) * 1000:.1f} |"
        )
    return out


def forbidden(mods: list[str]) -> list[str]:
    return [m for m in mods if m.split(".")[0] in FORBIDDEN]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--top", type=int, default=15, help="import costs to list")
    ap.add_argument("--json", type=Path, default=BENCH_DIR / "results-startup.json")
    args = ap.parse_args(argv)
    # An installed tool runs from bytecode compiled at install time; this sandbox sets
    # PYTHONDONTWRITEBYTECODE=1, so an editable checkout would recompile every module on every
    # start. Compile once (Python still reads .pyc files when it may not write them).
    subprocess.run(
        [PY, "-m", "compileall", "-q", str(REPO / "inbox_finder"), str(REPO / "providers")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    empty = ensure_empty_maildir()
    ENV["XDG_CONFIG_HOME"] = str(closed_port_config(BENCH_DIR))
    ENV["INBOX_FINDER_PASSWORD"] = "not-used"  # the connection is refused first
    cmds = commands(empty)
    names = list(cmds)
    times: dict[str, list[float]] = {n: [] for n in names}
    for rnd in range(args.warmup + args.runs):
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            t = time_once(cmds[name])
            if rnd >= args.warmup:
                times[name].append(t)
    bare = statistics.median(times["python -c pass"])
    out = [
        f"Start-up, median of {args.runs} interleaved runs (min / max in brackets):",
        "",
        "| command | median | min / max | vs `python -c pass` | target |",
        "|---|---:|---:|---:|---|",
    ]
    ok = True
    for name in names:
        med = statistics.median(times[name])
        ratio = med / bare
        verdict = ""
        goal = target(name)
        if goal is not None:
            verdict = f"<= {goal}x " + ("met" if ratio <= goal else "**not met**")
            ok = ok and ratio <= goal
        out.append(
            f"| `{name}` | {med * 1000:.1f} ms | {min(times[name]) * 1000:.0f} / "
            f"{max(times[name]) * 1000:.0f} ms | {ratio:.2f}x | {verdict} |"
        )

    find_code = (
        "import sys\nfrom inbox_finder.cli.main import main\n"
        f"rc = main(['find', 'maildir:{empty}'])"
    )
    report = {}
    imap_code = "import sys\nfrom inbox_finder.cli.main import main\nrc = main(['find', 'closed'])"
    for label, code in (
        ("import inbox_finder.cli.main", "import inbox_finder.cli.main"),
        ("find maildir:EMPTY (whole CLI path)", find_code),
        (CLOSED + " (whole CLI path)", imap_code),
    ):
        rows = importtime(code)
        mods = modules_loaded(code)
        bad = forbidden(mods)
        if code is imap_code:  # the IMAP path needs imapclient, nothing else on the list
            bad = [m for m in bad if m.split(".")[0] != "imapclient"]
        report[label] = {"modules": len(mods), "forbidden": bad}
        ours = [r for r in rows if r[0].startswith("inbox_finder")]
        out += [
            "",
            f"`python -X importtime` for {label}: {len(rows)} modules imported, "
            f"{sum(r[1] for r in rows) / 1000:.1f} ms self total "
            f"({sum(r[1] for r in ours) / 1000:.1f} ms in inbox_finder modules); "
            f"Google/Microsoft SDK modules in sys.modules: {bad or 'none'}.",
            "",
            "| module (top by cumulative) | cumulative ms | self ms |",
            "|---|---:|---:|",
        ]
        top_level = sorted(rows, key=lambda r: -r[2])[: args.top]
        for name, self_us, cum in top_level:
            out.append(f"| `{name}` | {cum / 1000:.1f} | {self_us / 1000:.1f} |")
        by_package: dict[str, int] = {}
        for name, self_us, _ in rows:
            key = name if name.startswith("inbox_finder") else name.split(".")[0]
            by_package[key] = by_package.get(key, 0) + self_us
        out += ["", "| package (top by own import time) | self ms |", "|---|---:|"]
        for key, self_us in sorted(by_package.items(), key=lambda kv: -kv[1])[: args.top]:
            out.append(f"| `{key}` | {self_us / 1000:.1f} |")
        ok = ok and not bad
    try:
        import imap_tools  # noqa: F401 - only to know whether its module set can be measured
    except ImportError:
        pass
    else:
        out += import_gap(imap_code, args.runs)
    print("\n".join(out))
    args.json.write_text(json.dumps({"times": times, "imports": report}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
