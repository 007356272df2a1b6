"""Benchmark 1: IMAP lookup vs mailbox size against a real Dovecot, side by side with baselines.

Usage (from the repository root; needs Dovecot 2.3 and, for baseline (b), ``imap_tools``)::

    .venv/bin/pip install imap_tools                  # bench-only dependency
    .venv/bin/python -m bench.bench_imap              # 1k, 10k, 100k messages, 5 runs (~5 min)
    .venv/bin/python -m bench.bench_imap --sizes 1000,10000 --runs 7

One Dovecot (``inbox_finder.testing.dovecot``: own config, CA and ports) serves one fresh user
per size, filled with ``bench/gen_mailbox.iter_messages(count, seed)`` by
``DovecotServer.bulk_load`` (Maildir files written directly, INTERNALDATE = file mtime =
delivery time). Everything but the
newest 1 % of the messages is ``\\Seen``. Before timing, one lookup lets Dovecot index the
folder and cache the From headers (that first-access cost is reported apart), then the script
waits 2 s so the Maildir directories are no longer "dirty" (else every EXAMINE re-reads them).

Variants, interleaved with a rotating order in every round, each on a new connection:

* ``ours``        -- ``inbox_finder.find_token("imaps://USER@HOST:PORT", ca_file=...)``;
* ``naive``       -- baseline (a), the script people write with imaplib: SELECT, SEARCH FROM
  salesforce.com, FETCH every hit's RFC822 (one command each, as the imaplib docs show), parse
  each with ``email`` and a regex, keep the newest by Date header;
* ``imap_tools``  -- baseline (b), the one-liner
  ``MailBox(host).login(u, p).fetch(A(from_="salesforce.com"), reverse=True)``, first message
  whose text has a token.

Wall time is measured directly against Dovecot. Bytes and commands come from one more run of
each variant through ``tests/emulators/fault_proxy.py`` (TLS-terminating: application bytes,
IMAP command names); Dovecot's own logout counters (messages fetched whole) are read back from
its log. Flags: ``SEARCH UNSEEN`` before and after each variant's first run, and for the scenarios a
``FLAGS`` snapshot of every message. Correctness scenarios (1,000 messages plus one extra mail
each, one fresh user per scenario and variant) show where the baselines go wrong.

Prints Markdown on stdout (progress on stderr), raw numbers to
``$INBOX_FINDER_BENCH_DIR/results-imap.json``; exits 1 if ``ours`` ever returns a wrong token.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import email
import imaplib
import io
import json
import os
import pstats
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from inbox_finder.providers.imap.search import search_criteria

from bench.gen_mailbox import BENCH_DIR, END, expected, iter_messages
from inbox_finder import NotFoundError, find_token
from inbox_finder.boundary.provider import Query
from inbox_finder.mail.templates import subject_search_words
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing.dovecot import DovecotServer
from tests.emulators.fault_proxy import FaultProxy, TlsTermination

CLI = Path(sys.executable).with_name("inbox-finder")
# The same token regex as the baselines of bench_local.py.
NAIVE_TOKEN = re.compile(r"security token[^:\n]*:\s*([A-Za-z0-9]{20,30})", re.IGNORECASE)
VARIANTS = ("ours", "naive", "imap_tools")
BASELINES = {"naive": "(a) naive imaplib", "imap_tools": "(b) imap_tools"}
UNSEEN_FRACTION = 0.01
SETTLE = 2.0  # seconds: Dovecot re-reads a Maildir directory modified within the last second
TAIL = 1000  # server_costs: a search restricted to the newest this many UIDs


# --- endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where a lookup connects: Dovecot itself or the counting proxy in front of it."""

    host: str
    port: int
    user: str
    password: str
    ca_file: str

    @property
    def url(self) -> str:
        return f"imaps://{self.user}@{self.host}:{self.port}"

    def context(self) -> ssl.SSLContext:
        """What a baseline script gets by default (imaplib loads the system CA store, ~30 ms
        here, as ``ours`` does), plus the test CA, so that cost is the same on both sides."""
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=self.ca_file)
        return context


# --- the lookups -------------------------------------------------------------------------------


def ours(ep: Endpoint) -> str | None:
    """The library call the CLI makes (config, provider registry, engine, IMAP provider)."""
    os.environ[PASSWORD_ENV] = ep.password
    try:
        return find_token(ep.url, ca_file=ep.ca_file).token
    except NotFoundError:
        return None


def naive(ep: Endpoint) -> str | None:
    """Baseline (a): fetch and parse every message From salesforce.com, keep the newest."""
    conn = imaplib.IMAP4_SSL(ep.host, ep.port, ssl_context=ep.context())
    try:
        conn.login(ep.user, ep.password)
        conn.select("INBOX")
        _, data = conn.search(None, "FROM", '"salesforce.com"')
        best: tuple[datetime, str] | None = None
        for num in data[0].split():
            _, parts = conn.fetch(num.decode(), "(RFC822)")
            first = parts[0]
            if not isinstance(first, tuple):
                continue
            msg: Any = email.message_from_bytes(first[1], policy=policy.default)
            body = msg.get_body(preferencelist=("plain", "html"))
            found = NAIVE_TOKEN.search(body.get_content() if body is not None else "")
            if found is None:
                continue
            when = parsedate_to_datetime(str(msg["Date"]))
            if best is None or when > best[0]:
                best = (when, found.group(1))
        return best[1] if best else None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):  # already gone is fine
            conn.logout()


def imap_tools_lookup(ep: Endpoint) -> str | None:
    """Baseline (b): the imap_tools one-liner, first message (newest UID) with a token."""
    from imap_tools import A, MailBox

    box = MailBox(ep.host, port=ep.port, ssl_context=ep.context())
    with box.login(ep.user, ep.password) as mailbox:
        for msg in mailbox.fetch(A(from_="salesforce.com"), reverse=True):
            found = NAIVE_TOKEN.search(msg.text or msg.html)
            if found:
                return found.group(1)
    return None


LOOKUPS: dict[str, Callable[[Endpoint], str | None]] = {
    "ours": ours,
    "naive": naive,
    "imap_tools": imap_tools_lookup,
}

# --- the same lookups as whole processes (what a cron job or a shell user runs) --------------

# Baseline scripts as a user would save them: stdlib (and imap_tools) only, nothing of ours.
_SCRIPT_HEAD = f"""
import os, re, ssl, sys
host, port, user, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.load_verify_locations(cafile=ca)
TOKEN = re.compile({NAIVE_TOKEN.pattern!r}, re.IGNORECASE)
"""
IMAP_TOOLS_SCRIPT = (
    _SCRIPT_HEAD
    + """
from imap_tools import A, MailBox
with MailBox(host, port=port, ssl_context=ctx).login(user, os.environ["PW"]) as mailbox:
    for msg in mailbox.fetch(A(from_="salesforce.com"), reverse=True):
        found = TOKEN.search(msg.text or msg.html)
        if found:
            print(found.group(1))
            break
"""
)
NAIVE_SCRIPT = (
    _SCRIPT_HEAD
    + """
import email, imaplib
from email import policy
from email.utils import parsedate_to_datetime
conn = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
conn.login(user, os.environ["PW"])
conn.select("INBOX")
best = None
for num in conn.search(None, "FROM", '"salesforce.com"')[1][0].split():
    raw = conn.fetch(num.decode(), "(RFC822)")[1][0][1]
    msg = email.message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    found = TOKEN.search(body.get_content() if body is not None else "")
    when = parsedate_to_datetime(str(msg["Date"]))
    if found and (best is None or when > best[0]):
        best = (when, found.group(1))
conn.logout()
if best:
    print(best[1])
"""
)


def _process(cmd: list[str], ep: Endpoint, env_key: str) -> str | None:
    env = {**os.environ, env_key: ep.password}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    if out.returncode not in (0, 1):
        say(f"{cmd[0]} exited {out.returncode}: {out.stderr.strip()[-300:]}")
    text = out.stdout.strip()
    if not text:
        return None
    return str(json.loads(text)["token"]) if text.startswith("{") else text.splitlines()[-1]


def ours_cli(ep: Endpoint) -> str | None:
    """``inbox-finder find imaps://USER@HOST:PORT --ca-file CA --json``, a new process."""
    return _process([str(CLI), "find", ep.url, "--ca-file", ep.ca_file, "--json"], ep, PASSWORD_ENV)


def _script(code: str) -> Callable[[Endpoint], str | None]:
    def run(ep: Endpoint) -> str | None:
        argv = [sys.executable, "-c", code, ep.host, str(ep.port), ep.user, ep.ca_file]
        return _process(argv, ep, "PW")

    return run


PROCESSES: dict[str, Callable[[Endpoint], str | None]] = {
    "ours": ours_cli,
    "naive": _script(NAIVE_SCRIPT),
    "imap_tools": _script(IMAP_TOOLS_SCRIPT),
}


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class Box:
    """One loaded mailbox (a Dovecot user)."""

    count: int
    user: str
    password: str
    token: str
    bytes: int
    kinds: dict[str, int]
    sf_hits: int = 0
    first_lookup_s: float = 0.0
    load_s: float = 0.0


NEWEST_AT: float | None = None  # --newest-at: where the newest token mail sits (0-1)
RUN = PROCESSES  # --mode: whole processes (default) or library calls in this process


def load(srv: DovecotServer, count: int, seed: int) -> Box:
    """A fresh user holding the generated mailbox; the newest 1 % of the messages unseen."""
    user, password = srv.new_user(f"n{count}x")
    unseen_from = count - max(5, int(count * UNSEEN_FRACTION))
    kinds: Counter[str] = Counter()
    size = 0
    new: list[tuple[bytes, datetime]] = []

    def batches() -> Iterator[tuple[bytes, datetime]]:
        nonlocal size
        for i, msg in enumerate(iter_messages(count, seed, newest_at=NEWEST_AT)):
            kinds[msg.kind] += 1
            size += len(msg.raw)
            if i >= unseen_from:
                new.append((msg.raw, msg.delivered))
            else:
                yield msg.raw, msg.delivered

    started = time.perf_counter()
    srv.bulk_load(user, batches(), flags="S")
    srv.bulk_load(user, new, flags="")
    return Box(
        count=count,
        user=user,
        password=password,
        token=expected(count, seed, NEWEST_AT)[0],
        bytes=size,
        kinds=dict(kinds),
        load_s=time.perf_counter() - started,
    )


def direct(srv: DovecotServer, box: Box) -> Endpoint:
    return Endpoint(srv.host, srv.imaps_port, box.user, box.password, srv.ca_file)


# --- measurements -------------------------------------------------------------------------------


@dataclass
class Counted:
    """One run through the counting proxy."""

    seconds: float
    bytes_up: int
    bytes_down: int
    commands: dict[str, int]
    body_count: int
    hdr_count: int
    token: str | None


@dataclass
class SizeResult:
    count: int
    mib: float
    kinds: dict[str, int]
    sf_hits: int
    load_s: float
    first_lookup_s: float
    times: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    breakdown: dict[str, dict[str, tuple[int, float]]] = field(default_factory=dict)
    tokens_ok: dict[str, bool] = field(default_factory=dict)
    counted: dict[str, Counted] = field(default_factory=dict)
    cli_s: float | None = None
    cli_ok: bool | None = None
    server_ms: dict[str, float] = field(default_factory=dict)


def counted_run(srv: DovecotServer, box: Box, variant: str) -> Counted:
    """One lookup through a TLS-terminating FaultProxy: bytes, commands, Dovecot counters."""
    before = len(srv.logouts(box.user))
    proxy = FaultProxy((srv.host, srv.imaps_port), tls=TlsTermination.from_dir(srv.base))
    try:
        ep = Endpoint(proxy.host, proxy.port, box.user, box.password, srv.ca_file)
        started = time.perf_counter()
        token = RUN[variant](ep)
        seconds = time.perf_counter() - started
    finally:
        proxy.close()
    logouts = srv.wait_logouts(box.user, before + 1)[before:]
    return Counted(
        seconds=seconds,
        bytes_up=proxy.bytes_up,
        bytes_down=proxy.bytes_down,
        commands=dict(proxy.commands),
        body_count=sum(x.get("body_count", 0) for x in logouts),
        hdr_count=sum(x.get("hdr_count", 0) for x in logouts),
        token=token,
    )


class CommandTimer:
    """Times every IMAP command of imaplib (and so imapclient and imap_tools): from taking
    its tag to its tagged answer. Patches ``imaplib.IMAP4`` while in use. Commands our
    provider pipelines (providers/imap/pipeline.py: written together, no ``_command``) are
    labelled "pipelined"; each one's time runs from the answer before it to its own."""

    def __init__(self) -> None:
        self.spent: list[tuple[str, float]] = []
        self._open: dict[str, float] = {}
        self._label: dict[str, str] = {}
        self._last = 0.0  # when the last tagged answer arrived

    def __enter__(self) -> CommandTimer:
        cls: Any = imaplib.IMAP4  # private hooks, not in typeshed
        self._saved = cls._new_tag, cls._command, cls._command_complete, cls._get_tagged_response
        new_tag, command, complete, tagged = self._saved
        timer = self

        def tag(imap: imaplib.IMAP4) -> bytes:
            value: bytes = new_tag(imap)
            timer._open[value.decode()] = time.perf_counter()
            return value

        def send(imap: imaplib.IMAP4, name: str, *args: Any) -> Any:
            value = command(imap, name, *args)
            sub = f" {str(args[0]).upper()}" if name.upper() == "UID" and args else ""
            timer._label[value.decode()] = name.upper() + sub
            return value

        def named(imap: imaplib.IMAP4, name: str, value: Any) -> Any:
            key = value.decode() if isinstance(value, bytes) else str(value)
            timer._label.setdefault(key, f"UID {name.upper()}")  # imapclient's own sends
            return complete(imap, name, value)

        def done(imap: imaplib.IMAP4, value: Any, expect_bye: bool = False) -> Any:
            try:
                return tagged(imap, value, expect_bye)
            finally:
                key = value.decode() if isinstance(value, bytes) else str(value)
                started = timer._open.pop(key, None)
                label = timer._label.pop(key, "pipelined (EXAMINE+SORT, FETCH pairs)")
                now = time.perf_counter()
                if started is not None:  # a pipelined answer's time starts at the one before
                    timer.spent.append((label, now - max(started, timer._last)))
                timer._last = now

        cls._new_tag = tag
        cls._command = send
        cls._command_complete = named
        cls._get_tagged_response = done
        return self

    def __exit__(self, *exc: object) -> None:
        cls: Any = imaplib.IMAP4
        cls._new_tag, cls._command, cls._command_complete, cls._get_tagged_response = self._saved


def timed_commands(ep: Endpoint, variant: str) -> dict[str, tuple[int, float]]:
    """One direct lookup with every command timed: name -> (count, seconds); "(total)" is the
    whole lookup, "(outside commands)" connect, TLS handshake, client work between commands."""
    with CommandTimer() as timer:
        started = time.perf_counter()
        LOOKUPS[variant](ep)
        total = time.perf_counter() - started
    out: dict[str, tuple[int, float]] = {}
    for name, secs in timer.spent:
        n, t = out.get(name, (0, 0.0))
        out[name] = (n + 1, t + secs)
    inside = sum(t for _, t in out.values())
    out["(outside commands)"] = (0, total - inside)
    out["(total)"] = (0, total)
    return out


def session_floor(srv: DovecotServer, box: Box, reps: int = 3) -> tuple[float, float]:
    """Median ms of the first and the second message read (one header) in a new session:
    Dovecot's Maildir opens its first message file per process only after reading
    dovecot-uidlist and re-listing cur/, whichever client asks."""
    first: list[float] = []
    second: list[float] = []
    for _ in range(reps):
        with srv.client(box.user) as c:
            c.select_folder("INBOX", readonly=True)
            uids = c.search(["UID", f"{max(1, box.count - 300)}:*"])
            started = time.perf_counter()
            c.fetch(uids[-1:], ["BODY.PEEK[HEADER]"])
            first.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            c.fetch(uids[-2:-1], ["BODY.PEEK[HEADER]"])
            second.append((time.perf_counter() - started) * 1000)
    return statistics.median(first), statistics.median(second)


def server_costs(srv: DovecotServer, box: Box, reps: int = 3) -> dict[str, float]:
    """Median ms of the IMAP commands a lookup is made of, on one settled connection."""
    out: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[[], object]) -> None:
        for _ in range(reps):
            started = time.perf_counter()
            fn()
            out.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    with srv.client(box.user) as c:
        info = c.select_folder("INBOX", readonly=True)
        top = int(info[b"UIDNEXT"]) - 1
        hits = c.search(["FROM", "salesforce.com"])
        timed("EXAMINE", lambda: c.select_folder("INBOX", readonly=True))
        timed("UID SEARCH FROM salesforce.com", lambda: c.search(["FROM", "salesforce.com"]))
        timed("UID FETCH INTERNALDATE (every hit)", lambda: c.fetch(hits, ["INTERNALDATE"]))
        timed(
            "UID SORT (REVERSE ARRIVAL) FROM salesforce.com",
            lambda: c.sort(["REVERSE", "ARRIVAL"], ["FROM", "salesforce.com"]),
        )
        narrowed = search_criteria(Query(subject_words=subject_search_words()))
        timed(
            "UID SORT (REVERSE ARRIVAL) FROM salesforce.com + OR'ed SUBJECT words",
            lambda: c.sort(["REVERSE", "ARRIVAL"], narrowed),
        )
        timed("UID SEARCH ALL (no header read)", lambda: c.search(["ALL"]))
        tail = f"{max(1, top - TAIL + 1)}:{top}"
        timed(
            f"UID SEARCH UID <last {TAIL}> FROM salesforce.com",
            lambda: c.search(["UID", tail, "FROM", "salesforce.com"]),
        )
        day = (END - timedelta(days=7)).date()
        timed(
            "UID SEARCH SINCE <7 days> FROM salesforce.com",
            lambda: c.search(["SINCE", day, "FROM", "salesforce.com"]),
        )
        timed(
            "UID FETCH 25 x BODY.PEEK[HEADER]",
            lambda: c.fetch(hits[-25:], ["BODY.PEEK[HEADER]"]),
        )
    result = {k: statistics.median(v) for k, v in out.items()}
    first, second = session_floor(srv, box)
    result["first message read of a new session (1 header)"] = first
    result["second message read, same session"] = second
    return result


def profile_ours(ep: Endpoint, top: int = 14) -> str:
    """cProfile of one ``ours`` lookup: the functions with the most cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    ours(ep)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    total = next((ln for ln in lines if "function calls" in ln), "")
    return "\n".join([total.strip(), *lines[start:]])


def run_cli(ep: Endpoint) -> tuple[float, str | None]:
    """``inbox-finder find URL --ca-file CA --json`` once, wall time with start-up."""
    env = {**os.environ, PASSWORD_ENV: ep.password}
    started = time.perf_counter()
    out = subprocess.run(
        [str(CLI), "find", ep.url, "--ca-file", ep.ca_file, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        say(f"CLI failed ({out.returncode}): {out.stderr.strip()[:300]}")
        return seconds, None
    return seconds, str(json.loads(out.stdout)["token"])


def bench_size(
    srv: DovecotServer, count: int, seed: int, runs: int, variants: list[str], cli: bool
) -> tuple[SizeResult, Endpoint]:
    say(f"[{count}] generating and bulk-loading {count} messages ...")
    box = load(srv, count, seed)
    ep = direct(srv, box)
    say(f"[{count}] loaded in {box.load_s:.1f}s ({box.bytes / 2**20:.0f} MiB); first lookup ...")
    started = time.perf_counter()
    first = ours(ep)
    box.first_lookup_s = time.perf_counter() - started
    assert first == box.token, f"first lookup at {count}: {first!r} != {box.token!r}"
    time.sleep(SETTLE)
    with srv.client(box.user) as c:
        c.select_folder("INBOX", readonly=True)
        box.sf_hits = len(c.search(["FROM", "salesforce.com"]))
    result = SizeResult(
        count=count,
        mib=box.bytes / 2**20,
        kinds=box.kinds,
        sf_hits=box.sf_hits,
        load_s=box.load_s,
        first_lookup_s=box.first_lookup_s,
    )
    say(f"[{count}] first lookup {box.first_lookup_s:.2f}s; warm-up run of each variant ...")
    for variant in variants:  # untimed (naive and imap_tools set \Seen here, once)
        RUN[variant](ep)
    for r in range(runs):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for variant in order:
            cpu, started = time.process_time(), time.perf_counter()
            token = RUN[variant](ep)
            result.times.setdefault(variant, []).append(time.perf_counter() - started)
            result.cpu.setdefault(variant, []).append(time.process_time() - cpu)
            ok = token == box.token
            result.tokens_ok[variant] = result.tokens_ok.get(variant, True) and ok
        say(f"[{count}] round {r + 1}/{runs}: " + _medians(result.times))
    for variant in variants:
        result.counted[variant] = counted_run(srv, box, variant)
        result.breakdown[variant] = timed_commands(ep, variant)
    say(f"[{count}] counted runs done; server command costs ...")
    result.server_ms = server_costs(srv, box)
    if cli:
        result.cli_s, token = run_cli(ep)
        result.cli_ok = token == box.token
    return result, ep


def _medians(times: dict[str, list[float]]) -> str:
    return ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in times.items())


# --- correctness scenarios -----------------------------------------------------------------------


def _headers(sender: str, subject: str, when: datetime, domain: str) -> str:
    return (
        f"Received: from mta.{domain} by mx.google.com; {format_datetime(when)}\n"
        f"Authentication-Results: mx.google.com;\n       dkim=pass header.i=@{domain};\n"
        f"       spf=pass smtp.mailfrom={domain};\n"
        f"       dmarc=pass (p=REJECT) header.from={domain}\n"
        f"From: {sender}\nTo: dana@example.com\nSubject: {subject}\n"
        f"Date: {format_datetime(when)}\nMessage-ID: <{int(when.timestamp())}@{domain}>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
    )


def lookalike_mail(when: datetime) -> tuple[bytes, str]:
    """A phish from a domain that merely contains "salesforce.com"; its own SPF/DKIM pass."""
    token = "PhishPhishPhish0123456789"
    domain = "salesforce.com.account-check.example"
    body = (
        "We've sent you a new Salesforce security token.\n\n"
        f"Username: dana@example.com\nSecurity token (case-sensitive): {token}\n"
    )
    head = _headers(
        f"Salesforce <support@{domain}>", "Your new Salesforce security token", when, domain
    )
    return (head + body).encode(), token


def reply_mail(when: datetime, old_token: str) -> bytes:
    """A person at salesforce.com answering the user's question, quoting an old token mail."""
    body = (
        "Hi Dana,\n\nthe token in the mail you forwarded is the old one; please reset it again."
        "\n\n> Username: dana@example.com\n"
        f"> Security token (case-sensitive): {old_token}\n"
    )
    head = _headers(
        "Jane Doe <jane.doe@salesforce.com>",
        "Re: Your new Salesforce security token",
        when,
        "salesforce.com",
    )
    return (head + body).encode()


@dataclass
class Scenario:
    name: str
    why: str
    extra: list[tuple[bytes, datetime, tuple[str, ...]]]
    wrong_token: str | None  # what a fooled lookup returns


def scenarios(count: int, seed: int) -> list[Scenario]:
    """Mailboxes of ``count`` generated messages plus one appended mail (highest UID)."""
    msgs = list(iter_messages(count, seed, newest_at=NEWEST_AT))
    newest = expected(count, seed, NEWEST_AT)[2]
    older = max(i for i, m in enumerate(msgs) if m.kind == "token" and i < newest)
    old_raw = msgs[older].raw
    old_token = NAIVE_TOKEN.search(old_raw.decode())
    assert old_token is not None
    later = msgs[-1].delivered + timedelta(hours=1)
    phish, phish_token = lookalike_mail(later)
    return [
        Scenario("as generated", "the timed mailbox", [], None),
        Scenario(
            "older token mail moved in last",
            "an older token mail (its INTERNALDATE kept) copied into INBOX after the newest, "
            "e.g. restored from Archive or Junk: it has the highest UID",
            [(old_raw, msgs[older].delivered, ("\\Seen",))],
            old_token.group(1),
        ),
        Scenario(
            "look-alike domain, newest",
            "From support@salesforce.com.account-check.example (passes SEARCH FROM "
            "salesforce.com, which is a substring match), token-shaped text",
            [(phish, later, ())],
            phish_token,
        ),
        Scenario(
            "reply quoting an old token, newest",
            "From jane.doe@salesforce.com, Subject Re: Your new Salesforce security token, "
            "quoting an older token",
            [(reply_mail(later, old_token.group(1)), later, ())],
            old_token.group(1),
        ),
    ]


@dataclass
class ScenarioResult:
    name: str
    why: str
    expected: str
    tokens: dict[str, str | None]
    flags_changed: dict[str, int]
    wrong_token: str | None


def run_scenarios(
    srv: DovecotServer, count: int, seed: int, variants: list[str]
) -> list[ScenarioResult]:
    out = []
    for sc in scenarios(count, seed):
        res = ScenarioResult(
            sc.name, sc.why, expected(count, seed, NEWEST_AT)[0], {}, {}, sc.wrong_token
        )
        for variant in variants:
            box = load(srv, count, seed)
            if sc.extra:
                srv.append_many(box.user, [(raw, when, flags) for raw, when, flags in sc.extra])
            ep = direct(srv, box)
            before = srv.snapshot(box.user)
            res.tokens[variant] = RUN[variant](ep)
            after = srv.snapshot(box.user)
            res.flags_changed[variant] = sum(1 for uid in before if before[uid] != after.get(uid))
        say(f"scenario {sc.name!r}: {res.tokens}")
        out.append(res)
    return out


# --- report ---------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 10 * 2**20 else f"{n / 2**20:,.1f} MiB"


def _commands(c: dict[str, int]) -> str:
    order = ["LOGIN", "CAPABILITY", "SELECT", "EXAMINE", "UID SEARCH", "SEARCH", "UID SORT"]
    names = sorted(c, key=lambda k: (order.index(k) if k in order else 99, k))
    return ", ".join(f"{k} {c[k]}" if c[k] > 1 else k for k in names if k != "LOGOUT")


def report(
    results: list[SizeResult], scen: list[ScenarioResult], variants: list[str], profile: str
) -> str:
    out: list[str] = []
    out.append(
        "| messages | size | From salesforce.com (SEARCH hits) | token mails | bulk load |"
        " first lookup (Dovecot indexes) |"
    )
    out.append("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        out.append(
            f"| {r.count:,} | {r.mib:,.0f} MiB | {r.sf_hits:,} | {r.kinds.get('token', 0)} | "
            f"{r.load_s:.1f} s | {_ms(r.first_lookup_s)} |"
        )
    out.append("")
    what = "whole processes" if RUN is PROCESSES else "library calls in one process"
    where = f"newest token mail at {NEWEST_AT:.0%} of the timeline" if NEWEST_AT else "near the end"
    out.append(
        f"Wall time of {what}, median of the interleaved runs (min-max), direct to Dovecot; "
        f"{where}:"
    )
    out.append("")
    head = " | ".join(f"`{v}`" for v in variants)
    out.append(f"| messages | {head} | correct (every run) |")
    out.append("|---:|" + "---:|" * len(variants) + "---|")
    for r in results:
        cells = []
        for v in variants:
            t = r.times[v]
            cells.append(f"{_ms(statistics.median(t))} ({_ms(min(t))}-{_ms(max(t))})")
        ok = ", ".join(f"{v} {'yes' if r.tokens_ok[v] else '**NO**'}" for v in variants)
        out.append(f"| {r.count:,} | " + " | ".join(cells) + f" | {ok} |")
    out.append("")
    out.append("Client CPU per lookup (this process, `time.process_time`), median ms:")
    out.append("")
    out.append(f"| messages | {head} |")
    out.append("|---:|" + "---:|" * len(variants))
    for r in results:
        cells = [f"{statistics.median(r.cpu[v]) * 1000:,.0f}" for v in variants]
        out.append(f"| {r.count:,} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(
        "Bytes and commands per lookup (one run through the counting proxy; "
        "bytes are IMAP application bytes, TLS excluded; "
        "`whole` = messages Dovecot sent whole, from its logout counters):"
    )
    out.append("")
    out.append(
        "| messages | variant | bytes down | bytes up | commands (total) | whole | commands |"
    )
    out.append("|---:|---|---:|---:|---:|---:|---|")
    for r in results:
        for v in variants:
            c = r.counted[v]
            out.append(
                f"| {r.count:,} | `{v}` | {_kib(c.bytes_down)} | {_kib(c.bytes_up)} | "
                f"{sum(c.commands.values()):,} | {c.body_count:,} | {_commands(c.commands)} |"
            )
    out.append("")
    first, last = results[0], results[-1]
    med = {(r.count, v): statistics.median(r.times[v]) for r in results for v in variants}
    out.append("Ratios (medians of the same run):")
    out.append("")
    out.append(f"| ratio | {' | '.join(f'{r.count:,}' for r in results)} |")
    out.append("|---|" + "---:|" * len(results))
    for v in variants:
        out.append(
            f"| `{v}` time vs `ours` | "
            + " | ".join(f"{med[(r.count, v)] / med[(r.count, 'ours')]:.2f}x" for r in results)
            + " |"
        )
    if "naive" in variants:
        out.append(
            "| bytes down `naive` / `ours` | "
            + " | ".join(
                f"{r.counted['naive'].bytes_down / r.counted['ours'].bytes_down:.1f}x"
                for r in results
            )
            + " |"
        )
    out.append("")
    out.append(
        f"Cost vs mailbox size ({last.count:,} / {first.count:,} messages, median wall time):"
    )
    out.append("")
    for v in variants:
        out.append(
            f"* `{v}`: {med[(last.count, v)] / med[(first.count, v)]:.2f}x "
            f"({_ms(med[(first.count, v)])} -> {_ms(med[(last.count, v)])})"
        )
    out.append("")
    if any(r.cli_s is not None for r in results):
        out.append(
            "CLI (`inbox-finder find imaps://... --ca-file CA --json`, one run, wall time "
            "with interpreter start-up):"
        )
        out.append("")
        out.append("| messages | CLI | `ours` median above | same token |")
        out.append("|---:|---:|---:|---|")
        for r in results:
            if r.cli_s is not None:
                out.append(
                    f"| {r.count:,} | {_ms(r.cli_s)} | {_ms(med[(r.count, 'ours')])} | "
                    f"{'yes' if r.cli_ok else '**NO**'} |"
                )
        out.append("")
    out.append(
        "Server-side cost of the commands a lookup is made of (median of 3, ms, one "
        "settled connection, imapclient parsing included):"
    )
    out.append("")
    out.append(f"| command | {' | '.join(f'{r.count:,}' for r in results)} |")
    out.append("|---|" + "---:|" * len(results))
    for name in first.server_ms:
        out.append(
            f"| `{name}` | " + " | ".join(f"{r.server_ms[name]:.1f}" for r in results) + " |"
        )
    out.append("")
    for r in results:
        out.append(
            f"Where one lookup's time goes at {r.count:,} messages (one instrumented direct run "
            "per variant; ms, count in brackets):"
        )
        out.append("")
        out.append(f"| | {head} |")
        out.append("|---|" + "---:|" * len(variants))
        names = sorted(
            {n for v in variants for n in r.breakdown[v]},
            key=lambda n: (n.startswith("("), n == "(total)", n),
        )
        for name in names:
            cells = []
            for v in variants:
                n, secs = r.breakdown[v].get(name, (0, 0.0))
                cells.append(
                    f"{secs * 1000:,.1f}" + (f" ({n})" if n > 1 else "")
                    if n or name.startswith("(")
                    else ""
                )
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    if scen:
        out.append(
            "Correctness scenarios (each variant on its own fresh copy; "
            "`flags` = messages whose flags the lookup changed):"
        )
        out.append("")
        out.append(f"| scenario | {head} |")
        out.append("|---|" + "---|" * len(variants))
        for s in scen:
            cells = []
            for v in variants:
                tok = s.tokens[v]
                verdict = (
                    "right"
                    if tok == s.expected
                    else "**wrong: the look-alike's/older token**"
                    if tok == s.wrong_token
                    else f"**wrong: {tok!r}**"
                )
                cells.append(f"{verdict}, flags {s.flags_changed[v]}")
            out.append(f"| {s.name} | " + " | ".join(cells) + " |")
        out.append("")
    if profile:
        out.append(f"cProfile of one `ours` lookup at {last.count:,} messages:")
        out.append("")
        out.append("```")
        out.append(profile)
        out.append("```")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="messages per mailbox")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per variant and size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--scenario-size", type=int, default=1000, help="0 skips the scenarios")
    ap.add_argument("--no-cli", action="store_true", help="skip the one CLI run per size")
    ap.add_argument(
        "--mode",
        choices=("process", "library"),
        default="process",
        help="time whole processes (CLI and scripts, the default) or library calls",
    )
    ap.add_argument(
        "--newest-at",
        type=float,
        default=0.85,
        help="the newest token mail at this fraction of the timeline (>= 1: near the end)",
    )
    ap.add_argument(
        "--dovecot-setting",
        action="append",
        default=[],
        metavar="LINE",
        help='append a line to the bench Dovecot\'s config, e.g. "maildir_very_dirty_syncs = yes"',
    )
    args = ap.parse_args(argv)
    global NEWEST_AT, RUN
    NEWEST_AT = args.newest_at if args.newest_at < 1 else None
    RUN = PROCESSES if args.mode == "process" else LOOKUPS
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown or "ours" not in variants:
        ap.error(f"variants are {', '.join(VARIANTS)} (ours required); unknown: {unknown}")
    os.environ.pop("INBOX_FINDER_CONFIG", None)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="ifbench-xdg")  # no user config
    srv = DovecotServer.start()
    say(f"Dovecot {srv.version} in {srv.base}")
    if args.dovecot_setting:
        with (srv.base / "dovecot.conf").open("a") as conf:
            conf.write("".join(line + "\n" for line in args.dovecot_setting))
        srv.process.send_signal(signal.SIGHUP)  # new imap processes read the new config
        time.sleep(1.5)
    results: list[SizeResult] = []
    try:
        last_ep: Endpoint | None = None
        for count in sizes:
            res, last_ep = bench_size(srv, count, args.seed, args.runs, variants, not args.no_cli)
            results.append(res)
        profile = profile_ours(last_ep) if last_ep else ""
        scen = (
            run_scenarios(srv, args.scenario_size, args.seed, variants)
            if args.scenario_size
            else []
        )
    finally:
        srv.stop()
    text = report(results, scen, variants, profile)
    print(text)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    raw = {"results": [asdict(r) for r in results], "scenarios": [asdict(s) for s in scen]}
    (BENCH_DIR / "results-imap.json").write_text(json.dumps(raw, indent=1, default=str))
    ours_ok = all(r.tokens_ok["ours"] for r in results) and all(
        s.tokens["ours"] == s.expected for s in scen
    )
    return 0 if ours_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
