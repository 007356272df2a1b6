"""Benchmark 5: API calls per lookup and per idle scan, Gmail and Microsoft Graph (emulators).

Usage (from the repository root)::

    .venv/bin/python -m bench.bench_api                  # 50, 500, 5,000 messages (~2 min)
    .venv/bin/python -m bench.bench_api --sizes 50,500

Counts requests, not time: the emulators (``tests/emulators/``: gmail_emulator, ms_emulators
and ms_graph_emulator) log every request they serve, and the providers talk to them
with the real SDKs (google-api-python-client + google-auth over httplib2; MSAL + requests over
HTTPS). Mailboxes come from ``bench/gen_mailbox.iter_messages(count, seed)`` (delivery order,
the answer from ``expected(count, seed)``), in these variants:

* ``as generated`` -- the newest token mail is followed by one other Salesforce notification and
  one identity-verification look-alike (both From salesforce.com), then ordinary mail;
* ``token newest``  -- the same without the Salesforce mail after the newest token mail: the
  newest candidate is the token mail (the condition for "2 calls"), ordinary mail after
  it, so it is still not the newest message;
* ``busy inbox`` (Graph) -- ``token newest`` plus 120 newer non-Salesforce mails on top;
* ``behind other usernames`` -- ``token newest`` plus 6 newer token mails for sandbox
  usernames on top, looked up with ``username`` = the older token mail's (bodies after the
  first are read in batches: one batch here).

Lookups are ``inbox_finder.find_token(provider)`` with a fresh provider each time (as each CLI
run builds one). Scans are ``inbox_finder.scan.runner.scan(provider, state)`` with a fresh
provider per run: first scan, idle scan (nothing new: the target is 1 call), scan after one
new token mail.
Gmail counts API method calls (a batch's parts each count, as in Google's quota) apart from HTTP
round trips, plus quota units (messages.list/get 5, history.list 2, getProfile 1); calls to the
OAuth token endpoint are counted apart. Graph calls are counted apart from identity-platform
calls (OpenID discovery, token endpoint).

Prints Markdown on stdout (progress on stderr) and raw numbers to
``$INBOX_FINDER_BENCH_DIR/results-api.json``; exits 1 if a lookup returns a wrong token.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from inbox_finder.providers.gmail.provider import GmailProvider
from inbox_finder.providers.outlook.auth import run_device_code_login
from inbox_finder.providers.outlook.provider import OutlookProvider

from bench.gen_mailbox import BENCH_DIR, expected, iter_messages
from inbox_finder import find_token
from inbox_finder.boundary.provider import Provider, SourceOptions
from inbox_finder.scan.runner import scan
from inbox_finder.testing.mail import new_token, other_mail, token_mail
from tests.emulators.gmail_emulator import GmailEmulator, LoggedRequest
from tests.emulators.ms_emulators import IdentityEmulator, LoopbackCA, Recorded, make_test_ca
from tests.emulators.ms_graph_emulator import GraphEmulator

SF_KINDS = frozenset({"sf", "sf-token-subject", "verify"})
BUSY = 120  # non-Salesforce mails on top of the token mail in the "busy inbox" variant
SANDBOXES = 6  # newer token mails for other usernames in the "behind other usernames" variant
UPN = "dana@example.com"
APP_ID = "11111111-2222-3333-4444-555555555555"
PUBLIC_ID = "66666666-7777-8888-9999-000000000000"
SECRET_ENV = "BENCH_APP_SECRET"
SECRET = "bench~app.secret-value_0123456789"
GMAIL_UNITS = {"messages": 5, "get:metadata": 5, "get:raw": 5, "profile": 1, "history": 2}


# --- mailboxes ----------------------------------------------------------------------------------


Mail = tuple[bytes, datetime]


def mailbox(count: int, seed: int, variant: str) -> tuple[list[Mail], str]:
    """The messages (raw, delivered) of a variant, oldest first, and the expected token."""
    token, _, newest = expected(count, seed)
    out: list[Mail] = []
    last = datetime(2000, 1, 1, tzinfo=UTC)
    for i, msg in enumerate(iter_messages(count, seed)):
        last = msg.delivered
        if variant != "as generated" and i > newest and msg.kind in SF_KINDS:
            continue
        out.append((msg.raw, msg.delivered))
    if variant == "busy inbox":
        for n in range(BUSY):
            when = last + timedelta(minutes=n + 1)
            out.append((other_mail(n, when=when), when))
    if variant == "behind other usernames":
        username = expected(count, seed)[1]
        for n in range(SANDBOXES):
            when = last + timedelta(minutes=n + 1)
            out.append((token_mail(new_token(), f"{username}.sbx{n}", when), when))
    return out, token


def token_time(count: int, seed: int) -> datetime:
    """When the newest token mail was delivered."""
    newest = expected(count, seed)[2]
    return next(m.delivered for i, m in enumerate(iter_messages(count, seed)) if i == newest)


# --- request accounting -------------------------------------------------------------------------


@dataclass
class Calls:
    """What one lookup or scan cost."""

    api: dict[str, int] = field(default_factory=dict)  # method calls by short name
    round_trips: int = 0  # HTTP requests to the API (a batch is one)
    auth: dict[str, int] = field(default_factory=dict)  # token endpoint / identity platform
    units: int = 0  # Gmail quota units
    token: str | None = None

    @property
    def total(self) -> int:
        return sum(self.api.values())

    def api_text(self) -> str:
        return " + ".join(f"{n} {k}" if n > 1 else k for k, n in self.api.items()) or "-"

    def auth_text(self) -> str:
        return ", ".join(f"{n} {k}" if n > 1 else k for k, n in self.auth.items()) or "0"


def _gmail_name(r: LoggedRequest) -> str:
    tail = r.path.rsplit("/", 2)
    if tail[-1] in ("profile", "history", "messages"):
        return tail[-1]
    return f"get:{r.query.get('format', ['full'])[0]}"


def gmail_calls(requests: list[LoggedRequest]) -> Calls:
    api: Counter[str] = Counter()
    auth: Counter[str] = Counter()
    trips = 0
    for r in requests:
        if r.path == "/token":
            auth["POST /token"] += 1
        elif r.path.startswith("/gmail/"):
            api[_gmail_name(r)] += 1
        if not r.in_batch and r.path != "/token":
            trips += 1
    units = sum(GMAIL_UNITS.get(k, 5) * n for k, n in api.items())
    return Calls(dict(api), trips, dict(auth), units)


def graph_calls(
    requests: list[Recorded], identity: list[Recorded], batches: list[list[Any]] | None = None
) -> Calls:
    """``batches``: the parts of each $batch in ``requests`` (bodies or folder naming)."""
    api: Counter[str] = Counter()
    parts = iter(batches or [])
    for r in requests:
        if r.path.endswith("/$value"):
            api["$value"] += 1
        elif r.path.endswith("/$batch"):
            bodies = any(str(p).endswith("/$value") for p, _ in next(parts, []))
            api["$batch of $value" if bodies else "$batch (folder name)"] += 1
        elif parse_qs(r.query).get("$top") == ["10"] and "$skiptoken" not in r.query:
            api["cursor"] += 1
        else:
            api["list"] += 1
    auth: Counter[str] = Counter()
    for r in identity:
        what = r.path.rsplit("/", 1)[-1]
        if r.method == "POST" and r.form.get("grant_type"):
            what = f"token ({r.form['grant_type'].rsplit(':', 1)[-1]})"
        auth[f"{r.method} {what}"] += 1
    return Calls(dict(api), len(requests), dict(auth))


# --- Gmail --------------------------------------------------------------------------------------


class Gmail:
    """An emulator holding one mailbox, and fresh providers on it."""

    def __init__(self, mail: list[Mail], tmp: Path) -> None:
        self.emu = GmailEmulator().start()
        self.tmp = tmp
        for raw, when in mail:
            self.emu.add_message(raw, when)
        self._n = 0

    def close(self) -> None:
        self.emu.close()

    def provider(self, *, stale: bool = False, **profile: Any) -> GmailProvider:
        """A new provider; ``stale``: the saved access token has expired (one refresh)."""
        self._n += 1
        creds = self.tmp / f"gmail-{self._n}.json"
        token = "ya29.stale" if stale else self.emu.issue_access_token()
        expiry = datetime.now(UTC) + (timedelta(days=-1) if stale else timedelta(hours=1))
        creds.write_text(json.dumps(self.emu.authorized_user_info(token=token, expiry=expiry)))
        creds.chmod(0o600)
        keys = {
            "credentials": str(creds),
            "api_endpoint": self.emu.url,
            "token_uri": self.emu.token_uri,
            **profile,
        }
        return GmailProvider.from_url("gmail://me", SourceOptions(timeout=30, profile=keys))

    def measure(self, run: Callable[[], str | None]) -> Calls:
        before = len(self.emu.requests)
        token = run()
        calls = gmail_calls(self.emu.requests[before:])
        calls.token = token
        return calls


# --- Graph --------------------------------------------------------------------------------------


class Graph:
    """Identity + Graph emulators (HTTPS, a test CA) holding one mailbox."""

    def __init__(self, mail: list[Mail], ca: LoopbackCA) -> None:
        self.ca = ca
        self.idp = IdentityEmulator(ca, pending_polls=0)
        self.idp.register_app(APP_ID, secret=SECRET)
        self.idp.register_public_client(PUBLIC_ID)
        self.graph = GraphEmulator(self.idp, ca)
        self.graph.add_mailbox(UPN)
        for raw, when in mail:
            self.graph.add_message(UPN, raw, when)
        self.cache: Path | None = None

    def close(self) -> None:
        self.graph.close()
        self.idp.close()

    def provider(self, *, delegated: bool = False, **extra: Any) -> OutlookProvider:
        """An app-only provider for outlook://UPN, or a delegated one for outlook://me."""
        if delegated:
            assert self.cache is not None, "login() first"
            profile: dict[str, Any] = {
                "client_id": PUBLIC_ID,
                "authority": self.idp.authority("common"),
                "token_cache": str(self.cache),
            }
            url = "outlook://me"
        else:
            profile = {
                "client_id": APP_ID,
                "tenant": self.idp.tenant_id,
                "authority": self.idp.authority(),
                "client_secret_env": SECRET_ENV,
            }
            url = f"outlook://{UPN}"
        profile = {**profile, "graph_endpoint": self.graph.endpoint, **extra}
        options = SourceOptions(ca_file=str(self.ca.ca_file), timeout=30, profile=profile)
        return OutlookProvider.from_url(url, options)

    def login(self, directory: Path) -> None:
        """Device-code sign-in once (the emulator approves at once); fills the token cache."""
        self.cache = directory / "msal_cache.json"
        run_device_code_login(
            PUBLIC_ID,
            "common",
            self.idp.authority("common"),
            self.cache,
            ca_file=str(self.ca.ca_file),
            out=io.StringIO(),
        )

    def measure(self, run: Callable[[], str | None]) -> Calls:
        g, i, b = len(self.graph.requests), len(self.idp.requests), len(self.graph.batches)
        token = run()
        batches = self.graph.batches[b:]
        calls = graph_calls(self.graph.requests[g:], self.idp.requests[i:], batches)
        calls.token = token
        return calls


def msal_persisted_caches(idp: IdentityEmulator, runs: int = 3) -> list[dict[str, int]]:
    """Evidence for a fix (not what the provider does): identity calls of ``runs`` app-only
    token acquisitions, each by a new ConfidentialClientApplication (one per CLI process),
    sharing a token cache and MSAL's ``http_cache`` (discovery answers) as a persisted cache
    file would."""
    import msal

    http_cache: dict[Any, Any] = {}
    tokens = msal.SerializableTokenCache()
    out = []
    for _ in range(runs):
        before = len(idp.requests)
        app = msal.ConfidentialClientApplication(
            APP_ID,
            client_credential=SECRET,
            authority=idp.authority(),
            instance_discovery=False,
            azure_region=False,
            http_cache=http_cache,
            token_cache=tokens,
        )
        result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
        assert "access_token" in result
        out.append(dict(graph_calls([], idp.requests[before:]).auth))
    return out


# --- runs ---------------------------------------------------------------------------------------


def lookup(
    make: Callable[[], Provider], since: datetime | None = None, username: str | None = None
) -> Callable[[], str | None]:
    def run() -> str | None:
        with make() as provider:
            return find_token(provider, since=since, username=username).token

    return run


def scan_once(make: Callable[[], Provider], state: Path) -> Callable[[], str | None]:
    def run() -> str | None:
        with make() as provider:
            result = scan(provider, state)
        return ",".join(f.token for f in result.reported) or None

    return run


@dataclass
class Row:
    api: str  # Gmail / Graph
    count: int
    what: str
    calls: Calls
    expected: str | None
    note: str = ""

    @property
    def ok(self) -> bool:
        """None: not checked; "": nothing may be reported; else the token expected."""
        if self.expected is None:
            return True
        return self.calls.token == (self.expected or None)


def roughly_newest_first(msgs: list[Any]) -> list[Any]:
    """Gmail's list order is only roughly newest first: swap every other neighbouring pair."""
    out = sorted(msgs, key=lambda m: m.internal_ms, reverse=True)
    for i in range(0, len(out) - 1, 4):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def bench_gmail(count: int, seed: int, tmp: Path) -> Iterator[Row]:
    for variant in ("token newest", "as generated", "behind other usernames"):
        mail, token = mailbox(count, seed, variant)
        gm = Gmail(mail, tmp)
        try:
            wanted = expected(count, seed)[1] if variant == "behind other usernames" else None
            calls = gm.measure(lookup(gm.provider, username=wanted))
            yield Row("Gmail", count, f"lookup, {variant}", calls, token)
            if variant == "token newest":
                stale = gm.measure(lookup(partial(gm.provider, stale=True)))
                yield Row(
                    "Gmail", count, "lookup, token newest, expired access token", stale, token
                )
                small = gm.measure(lookup(partial(gm.provider, page_size=10)))
                yield Row(
                    "Gmail", count, "lookup, token newest, profile page_size = 10", small, token
                )
                day = token_time(count, seed) - timedelta(days=1)
                windowed = gm.measure(lookup(gm.provider, since=day))
                what = "lookup, token newest, since = 1 day before the token mail"
                yield Row("Gmail", count, what, windowed, token)
                gm.emu.list_order = roughly_newest_first
                rough = gm.measure(lookup(gm.provider))
                gm.emu.list_order = None
                yield Row(
                    "Gmail",
                    count,
                    "lookup, token newest, list order only roughly newest first",
                    rough,
                    token,
                )
            if variant == "as generated":
                yield from scans("Gmail", count, gm.measure, gm.provider, gm.emu.add_message, tmp)
        finally:
            gm.close()


def bench_graph(
    count: int, seed: int, tmp: Path, ca: LoopbackCA, evidence: bool = False
) -> Iterator[Row]:
    """Graph lookups and scans; ``evidence``: also the MSAL persisted-cache rows."""
    for variant in ("token newest", "as generated", "busy inbox", "behind other usernames"):
        mail, token = mailbox(count, seed, variant)
        gr = Graph(mail, ca)
        try:
            wanted = expected(count, seed)[1] if variant == "behind other usernames" else None
            calls = gr.measure(lookup(gr.provider, username=wanted))
            yield Row("Graph", count, f"lookup, {variant}", calls, token)
            if variant == "token newest":
                gr.login(tmp)
                calls = gr.measure(lookup(partial(gr.provider, delegated=True)))
                yield Row(
                    "Graph", count, "lookup, token newest, delegated (cached login)", calls, token
                )
            if variant == "token newest" and evidence:
                for n, auth in enumerate(msal_persisted_caches(gr.idp), start=1):
                    calls = Calls(auth=auth, token=token)
                    what = f"MSAL alone, run {n} with persisted token cache + http_cache (a fix)"
                    yield Row("Graph", count, what, calls, token)
            if variant == "busy inbox":
                senders = ["support@salesforce.com", "noreply@salesforce.com"]
                calls = gr.measure(lookup(partial(gr.provider, senders=senders)))
                yield Row(
                    "Graph",
                    count,
                    "lookup, busy inbox, profile senders = [support@, noreply@salesforce.com]",
                    calls,
                    token,
                )
                calls = gr.measure(lookup(partial(gr.provider, page_size=200)))
                yield Row(
                    "Graph", count, "lookup, busy inbox, profile page_size = 200", calls, token
                )
            if variant == "as generated":
                add = partial(gr.graph.add_message, UPN)
                yield from scans("Graph", count, gr.measure, gr.provider, add, tmp)
        finally:
            gr.close()


def scans(
    api: str,
    count: int,
    measure: Callable[[Callable[[], str | None]], Calls],
    make: Callable[[], Provider],
    add: Callable[[bytes, datetime], object],
    tmp: Path,
) -> Iterator[Row]:
    """First scan, idle scan, scan after one new token mail, idle again (fresh provider each)."""
    state = Path(tempfile.mkdtemp(dir=tmp)) / "state.json"
    yield Row(
        api,
        count,
        "scan, first (state file new)",
        measure(scan_once(make, state)),
        None,
        "every username's newest token",
    )
    yield Row(api, count, "scan, idle", measure(scan_once(make, state)), "")
    fresh = new_token()
    now = datetime.now(UTC)
    add(token_mail(fresh, when=now), now)
    yield Row(api, count, "scan, one new token mail", measure(scan_once(make, state)), fresh)
    yield Row(api, count, "scan, idle again", measure(scan_once(make, state)), "")


# --- report -------------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def report(rows: list[Row]) -> str:
    out: list[str] = []
    gmail = [r for r in rows if r.api == "Gmail"]
    graph = [r for r in rows if r.api == "Graph"]
    if gmail:
        out.append(
            "Gmail (`gmail://me`; API method calls, batch parts each counted; "
            "round trips = HTTP requests to the API, a batch is one):"
        )
        out.append("")
        out.append(
            "| messages | what | API calls | of which | round trips | quota units | "
            "token endpoint | right token |"
        )
        out.append("|---:|---|---:|---|---:|---:|---:|---|")
        for r in gmail:
            c = r.calls
            out.append(
                f"| {r.count:,} | {r.what} | {c.total} | {c.api_text()} | {c.round_trips} | "
                f"{c.units} | {c.auth_text()} | {_ok(r)} |"
            )
        out.append("")
    if graph:
        out.append(
            "Microsoft Graph (app-only `outlook://USER` unless noted; Graph calls; "
            "identity-platform calls apart):"
        )
        out.append("")
        out.append("| messages | what | Graph calls | of which | identity platform | right token |")
        out.append("|---:|---|---:|---|---|---|")
        for r in graph:
            c = r.calls
            out.append(
                f"| {r.count:,} | {r.what} | {c.total} | {c.api_text()} | {c.auth_text()} | "
                f"{_ok(r)} |"
            )
        out.append("")
    return "\n".join(out)


def _ok(r: Row) -> str:
    if r.expected is None:
        return "-" if not r.calls.token else f"({r.calls.token.count(',') + 1} reported)"
    if r.expected == "":
        return "nothing reported" if r.ok else f"**NO** ({r.calls.token!r})"
    return "yes" if r.ok else f"**NO** ({r.calls.token!r})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="50,500,5000", help="messages per mailbox")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=("gmail", "graph"), help="one API only")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ.pop("INBOX_FINDER_CONFIG", None)
    os.environ[SECRET_ENV] = SECRET
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ifbench-api") as name:
        tmp = Path(name)
        os.environ["XDG_CONFIG_HOME"] = str(tmp / "xdg")
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        ca = make_test_ca(tmp / "ca")
        os.environ["REQUESTS_CA_BUNDLE"] = str(ca.ca_file)
        for count in sizes:
            if args.only != "graph":
                for row in bench_gmail(count, args.seed, tmp):
                    say(
                        f"Gmail {count}: {row.what}: {row.calls.api_text()} "
                        f"[{row.calls.auth_text()}] {_ok(row)}"
                    )
                    rows.append(row)
            if args.only != "gmail":
                for row in bench_graph(count, args.seed, tmp, ca, count == sizes[0]):
                    say(
                        f"Graph {count}: {row.what}: {row.calls.api_text()} "
                        f"[{row.calls.auth_text()}] {_ok(row)}"
                    )
                    rows.append(row)
    print(report(rows))
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "results-api.json").write_text(
        json.dumps([{**asdict(r), "ok": r.ok} for r in rows], indent=1, default=str)
    )
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
