"""scan on Outlook / Graph: the shipped scan contract, then the newest-message cursor and the
receivedDateTime-bounded search.

Through real MSAL + requests over HTTPS against the emulators, and through the CLI. Graph calls
are counted in the Graph emulator's request log; the identity emulator's (OpenID discovery and
the client-credentials token, once per process for an app-only profile) are counted apart.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from corpus_util import CORPUS, positives
from emulators.ms_emulators import IdentityEmulator, LoopbackCA, Recorded
from emulators.ms_graph_emulator import GraphEmulator
from inbox_finder.providers.outlook.provider import DELIVERY_SLACK, OutlookProvider
from mailboxes import GraphFixtures

from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.cli.main import main
from inbox_finder.testing import ScanContract
from inbox_finder.testing.mail import new_token, other_mail, token_mail, verification_mail

UPN = "dana@example.com"
APP_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t~Value.That-Must_Never.Leak"
MAILBOX = f"/v1.0/users/{UPN}/messages"  # every folder: the default scope


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TestOutlookScanContract(GraphFixtures, ScanContract):
    pass


@pytest.fixture
def graph(ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))
    monkeypatch.setenv("TEST_APP_SECRET", SECRET)
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    with IdentityEmulator(ca) as idp, GraphEmulator(idp, ca) as emu:
        idp.register_app(APP_ID, secret=SECRET)
        emu.add_mailbox(UPN)
        emu.load_corpus(UPN, CORPUS)
        yield emu


def profile_keys(graph: GraphEmulator) -> dict[str, Any]:
    idp = graph.identity
    return {
        "client_id": APP_ID,
        "tenant": idp.tenant_id,
        "authority": idp.authority(),
        "graph_endpoint": graph.endpoint,
        "client_secret_env": "TEST_APP_SECRET",
    }


def write_config(path: Path, graph: GraphEmulator, **extra: Any) -> Path:
    keys = {"url": f"outlook://{UPN}", **profile_keys(graph), **extra}
    path.write_text(
        "[mailbox.work]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    )
    return path


class Scanner:
    """Runs ``inbox-finder --config CFG scan work --state FILE --json`` and counts requests."""

    def __init__(
        self, graph: GraphEmulator, config: Path, state: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.graph, self.config, self.state, self.capsys = graph, config, state, capsys
        self.calls: list[Recorded] = []
        self.identity_calls: list[Recorded] = []
        self.err = ""

    def __call__(self, *extra: str, verbose: bool = False) -> tuple[int, list[dict[str, Any]]]:
        graph_before, idp_before = len(self.graph.requests), len(self.graph.identity.requests)
        args = ["--config", str(self.config), *(["--verbose"] if verbose else [])]
        code = main([*args, "scan", "work", "--state", str(self.state), "--json", *extra])
        out, self.err = self.capsys.readouterr()
        self.calls = self.graph.requests[graph_before:]
        self.identity_calls = self.graph.identity.requests[idp_before:]
        return code, [json.loads(line) for line in out.splitlines()]

    def kinds(self) -> list[str]:
        """The last scan's Graph calls: ``cursor`` ($top=10), ``list``, ``$value`` or
        ``$batch`` (naming a finding's folder)."""
        out = []
        for r in self.calls:
            if r.path.endswith(("/$value", "/$batch")):
                out.append(r.path.rsplit("/", 1)[-1])
            else:
                out.append("cursor" if parse_qs(r.query).get("$top") == ["10"] else "list")
        return out

    def filters(self) -> list[str]:
        found = (parse_qs(r.query).get("$filter") for r in self.calls)
        return [f[0] for f in found if f]


@pytest.fixture
def scan(graph: GraphEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Scanner:
    config = write_config(tmp_path / "config.toml", graph)
    return Scanner(graph, config, tmp_path / "state.json", capsys)


def newest_per_username() -> dict[str | None, str]:
    found: dict[str | None, str] = {}
    for e in positives():
        found.setdefault(e.username, e.token or "")
    return found


def test_first_reports_then_idle_costs_one_call_then_only_new(
    graph: GraphEmulator, scan: Scanner
) -> None:
    code, first = scan()
    assert code == 0 and {d["username"]: d["token"] for d in first} == newest_per_username()
    assert len(first) == len(newest_per_username())

    assert scan() == (0, [])
    assert scan.kinds() == ["cursor"]
    [cursor_call] = scan.calls
    assert cursor_call.path == MAILBOX
    query = parse_qs(cursor_call.query)
    assert query["$select"] == ["id,receivedDateTime"]
    assert query["$orderby"] == ["receivedDateTime desc"]
    # An app-only profile signs in once per process: OpenID discovery + client credentials.
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in scan.identity_calls] == [
        ("GET", "openid-configuration"),
        ("POST", "token"),
    ]

    graph.add_message(UPN, verification_mail(), now())  # noreply@salesforce.com look-alike
    graph.add_message(UPN, other_mail(1), now())
    assert scan() == (0, [])
    assert scan.kinds() == ["cursor", "list"]  # headers rejected it: no $value

    newest_before = positives()[0].received
    token = new_token()
    graph.add_message(UPN, token_mail(token, "dana@example.com"), now())
    code, third = scan()
    assert code == 0 and [(d["username"], d["token"]) for d in third] == [
        ("dana@example.com", token)
    ]
    assert scan.kinds() == ["cursor", "list", "$value", "$batch"]  # $batch: the folder's name
    [flt] = scan.filters()[1:]
    bound = dt.datetime.fromisoformat(flt.split()[2].replace("Z", "+00:00"))
    assert newest_before < bound < now() and flt.startswith("receivedDateTime ge ")

    assert scan() == (0, [])
    assert scan.kinds() == ["cursor"]
    state = scan.state.read_text()
    assert SECRET not in state and "AAMkAD" not in state  # no message ids either, only hashes


def test_all_folders_mode(graph: GraphEmulator, tmp_path: Path, scan: Scanner) -> None:
    scan.config = write_config(tmp_path / "all.toml", graph, folder="all")
    scan()
    assert scan() == (0, [])
    assert scan.kinds() == ["cursor"] and scan.calls[0].path == f"/v1.0/users/{UPN}/messages"
    token = new_token()
    graph.add_message(UPN, token_mail(token, "ops@example.com"), now(), folder="archive")
    code, found = scan()
    assert code == 0 and [(d["token"], d["folder"]) for d in found] == [(token, "Archive")]
    assert scan.kinds() == ["cursor", "list", "$value", "$batch"]


def test_with_senders_other_mail_keeps_the_scan_idle(
    graph: GraphEmulator, tmp_path: Path, scan: Scanner
) -> None:
    scan.config = write_config(
        tmp_path / "s.toml", graph, senders=["support@salesforce.com", "noreply@salesforce.com"]
    )
    scan()
    graph.add_message(UPN, other_mail(1), now())
    assert scan() == (0, [])
    assert scan.kinds() == ["cursor"]  # the cursor covers the same senders as the search
    assert "from/emailAddress/address eq 'support@salesforce.com'" in scan.filters()[0]
    token = new_token()
    graph.add_message(UPN, token_mail(token), now())
    assert [d["token"] for d in scan()[1]] == [token]


def test_unusable_cursor_is_a_full_search_not_an_error(
    graph: GraphEmulator, tmp_path: Path, scan: Scanner
) -> None:
    scan()
    data = json.loads(scan.state.read_text())
    cursor = data["cursor"]
    assert cursor.startswith("graph:") and len(cursor.split(":")) == 4
    tag = cursor.split(":")[1]
    for bad in ("garbage", "graph:zz", f"graph:{tag}:empty", f"graph:{tag}:yesterday:x", "gmail:5"):
        scan.state.write_text(json.dumps({**data, "cursor": bad}))
        assert scan() == (0, [])  # everything found was reported already
        assert scan.kinds()[:2] == ["cursor", "list"] and "$value" in scan.kinds()
        assert scan.filters()[1].startswith("receivedDateTime ge 1900-01-01T00:00:00Z")
    # Another folder: the old cursor's time says nothing about it, so search it all.
    scan.state.write_text(json.dumps(data))
    scan.config = write_config(tmp_path / "archive.toml", graph, folder="archive")
    graph.add_message(
        UPN, token_mail(new_token(), "arch@example.com", when=now()), now(), "archive"
    )
    code, found = scan(verbose=True)
    assert code == 0 and [d["username"] for d in found] == ["arch@example.com"]
    assert "sync cursor is for another folder or sender filter; full search" in scan.err
    assert scan.filters()[1].startswith("receivedDateTime ge 1900-01-01T00:00:00Z")


# --- the provider directly ------------------------------------------------------------------


def provider(graph: GraphEmulator, ca: LoopbackCA, **keys: Any) -> OutlookProvider:
    options = SourceOptions(ca_file=str(ca.ca_file), profile={**profile_keys(graph), **keys})
    return OutlookProvider.from_url(f"outlook://{UPN}", options)


def test_cursor_moves_only_with_new_mail_and_search_starts_there(
    graph: GraphEmulator, ca: LoopbackCA
) -> None:
    with provider(graph, ca) as outlook:
        cursor = outlook.sync_cursor()
        assert cursor is not None and outlook.sync_cursor() == cursor
        t_newest = positives()[0].received  # the corpus' newest mail is a token mail
        assert cursor.split(":")[2] == t_newest.strftime("%Y%m%dT%H%M%SZ")
        # Same second as the newest: only the id tells the cursors apart.
        late = graph.add_message(UPN, token_mail(new_token(), when=t_newest), t_newest)
        second = outlook.sync_cursor()
        assert second != cursor
        # Committed out of order, a little older than the cursor: within DELIVERY_SLACK.
        slack = graph.add_message(UPN, token_mail(new_token()), t_newest - dt.timedelta(minutes=2))
        got = [c.ref for c in outlook.search(Query(after_cursor=cursor))]
        assert got == [late, slack]  # newest first; the cursor's own mail is skipped
        params = outlook.list_params(Query(after_cursor=cursor))
        bound = (t_newest - DELIVERY_SLACK).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert params["$filter"] == f"receivedDateTime ge {bound}"
        # A later --since wins over the cursor's bound.
        since = t_newest + dt.timedelta(days=1)
        assert outlook.list_params(Query(since=since, after_cursor=cursor))["$filter"] == (
            f"receivedDateTime ge {since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )


def test_empty_folder_cursor(graph: GraphEmulator, ca: LoopbackCA) -> None:
    graph.add_mailbox("empty@example.com")
    options = SourceOptions(ca_file=str(ca.ca_file), profile=profile_keys(graph))
    with OutlookProvider.from_url("outlook://empty@example.com", options) as outlook:
        cursor = outlook.sync_cursor()
        assert cursor is not None and cursor.endswith(":empty")
        graph.add_message("empty@example.com", token_mail(new_token()), now())
        assert outlook.sync_cursor() != cursor
        assert len(list(outlook.search(Query(after_cursor=cursor)))) == 1
