"""HTTP faults for the Gmail and Graph providers.

The real client libraries (google-api-python-client over httplib2, requests) talk real HTTP(S)
to the emulators, which inject each fault on request (``break_next``: an answer cut off before
its Content-Length, a complete answer whose JSON is cut, a stall before or inside the answer;
``fail_next``/``inject``: error statuses). What is proved, for both providers:

* a transient fault (cut answer, invalid JSON, timeout, 5xx burst, 429) is retried within the
  retry policy's bounded budget, then is MailboxError (exit 4) naming what failed;
* a single fault followed by good answers gives the right token, never an older or partial one;
* 401 is exit 3 through the CLI with one line on stderr and no retry loop, and a persistent
  fault exit 4 with one line (no traceback, no "internal error");
* a fault at the OAuth token endpoint gets the same bounded retries: once, it is retried and
  the lookup succeeds; persistent, it is exit 4 (never a config error);
* a message deleted between list and fetch is exit 4 naming it (see
  ``test_message_deleted_between_list_and_fetch`` for why it is not skipped yet).

Backoff sleeps are recorded, not slept, except in the slow-answer tests, which use a real clock
and a small budget so that the budget's bound on wall time is what is checked.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from emulators.gmail_emulator import GmailEmulator
from emulators.ms_emulators import IdentityEmulator, LoopbackCA
from emulators.ms_graph_emulator import GraphEmulator
from inbox_finder.providers.gmail import provider as gmail_module
from inbox_finder.providers.outlook import provider as outlook_module

from inbox_finder import find_token
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.errors import ExitCode, MailboxError
from inbox_finder.model import Candidate
from inbox_finder.net.retry import RetryPolicy

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
UPN = "dana@example.com"
APP_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t~Value.That-Must_Never.Leak"
NEW_TOKEN = "NewTokenAbCdEfGhIjKlMnOp1"
OLD_TOKEN = "OldTokenZyXwVuTsRqPoNmLk9"
TIMEOUT = 0.5  # SourceOptions.timeout in the slow-answer tests


def token_mail(n: int, token: str) -> bytes:
    return (
        f"From: Salesforce <support@salesforce.com>\r\nTo: {UPN}\r\n"
        "Subject: Your new Salesforce security token\r\n"
        f"Message-ID: <m{n}@test>\r\nDate: Fri, 01 Mar 2024 12:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "We've sent you a new Salesforce security token.\r\n\r\n"
        f"Username: {UPN}\r\nSecurity token (case-sensitive): {token}\r\n"
    ).encode()


def noise_mail(n: int) -> bytes:
    return (
        f"From: Bob <bob@example.com>\r\nTo: {UPN}\r\nSubject: lunch?\r\n"
        f"Message-ID: <n{n}@test>\r\n\r\nSecurity token: not one\r\n"
    ).encode()


@dataclass(frozen=True)
class Wire:
    """One API request that crossed the wire: which step, the status sent, the fault applied."""

    stage: str  # list | metadata | fetch
    status: int
    fault: str


class Rig:
    """One provider plus its emulator, behind the same small interface for every fault test."""

    name = ""
    #: Attempts the default retry policy makes against a fault that never ends.
    persistent_attempts = 0
    #: Sleeps the default policy takes before retries 1, 2, 3 (no Retry-After).
    backoff: tuple[float, ...] = ()

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def deliver(self, raw: bytes, received: datetime) -> str:
        raise NotImplementedError

    def delete(self, ref: str) -> None:
        raise NotImplementedError

    def provider(self, *, timeout: float = 5.0, budget: float | None = None) -> Provider:
        """budget None: the default policy with recorded sleeps; else a real-clock budget."""
        raise NotImplementedError

    def break_next(self, stage: str, mode: str, times: int = 1, delay: float = 2.0) -> None:
        raise NotImplementedError

    def fail_next(
        self, stage: str, status: int, times: int, retry_after: str | None = None
    ) -> None:
        raise NotImplementedError

    def break_token_endpoint(self, mode: str, times: int = 1000) -> None:
        """Make the next lookup need a token, and the next ``times`` token requests meet
        ``mode``."""
        raise NotImplementedError

    def token_requests(self) -> int:
        """Requests that reached the OAuth token endpoint."""
        raise NotImplementedError

    def wire(self) -> list[Wire]:
        raise NotImplementedError

    def profile(self) -> dict[str, Any]:
        """Config-file keys of a profile for this mailbox (CLI tests)."""
        raise NotImplementedError

    def attempts(self, stage: str) -> int:
        return sum(w.stage == stage for w in self.wire())


class GmailRig(Rig):
    name = "gmail"
    persistent_attempts = 10  # 60 s budget: 0.375 + 0.75 + … + 12 s of (fake) backoff
    backoff = (0.375, 0.75, 1.5)  # base 0.5 s doubling, "equal jitter" pinned at 0.5
    PREFIX: ClassVar[dict[str, str]] = {
        "list": "/gmail/v1/users/me/messages",  # the list comes first, before any get
        "metadata": "/batch/",
        "fetch": "/gmail/v1/users/me/messages/",  # wire faults skip batch parts: the raw get
    }

    def __init__(self, emu: GmailEmulator, creds: Path) -> None:
        super().__init__()
        self.emu = emu
        self.creds = creds
        self.now = 0.0

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def deliver(self, raw: bytes, received: datetime) -> str:
        return self.emu.add_message(raw, received)

    def delete(self, ref: str) -> None:
        self.emu.delete_message(ref)

    def profile(self) -> dict[str, Any]:
        return {
            "url": "gmail://me",
            "credentials": str(self.creds),
            "api_endpoint": self.emu.url,
            "token_uri": self.emu.token_uri,
        }

    def provider(self, *, timeout: float = 5.0, budget: float | None = None) -> Provider:
        if budget is None:
            retry = dataclasses.replace(
                gmail_module.DEFAULT_RETRY,
                sleep=self._sleep,
                clock=lambda: self.now,
                random=lambda: 0.5,
            )
        else:
            retry = RetryPolicy(
                max_attempts=None, max_total=budget, base_delay=0.01, max_delay=0.02
            )
        profile = {k: v for k, v in self.profile().items() if k != "url"}
        options = SourceOptions(timeout=timeout, profile=profile)
        return gmail_module.GmailProvider.from_url("gmail://me", options, retry=retry)

    def break_next(self, stage: str, mode: str, times: int = 1, delay: float = 2.0) -> None:
        self.emu.break_next(times, mode, prefix=self.PREFIX[stage], delay=delay)

    def fail_next(
        self, stage: str, status: int, times: int, retry_after: str | None = None
    ) -> None:
        assert stage != "fetch", "status faults under /messages/ would hit the batch parts"
        self.emu.fail_next(times, status, retry_after=retry_after, prefix=self.PREFIX[stage])

    def break_token_endpoint(self, mode: str, times: int = 1000) -> None:
        info = json.loads(self.creds.read_text())
        self.creds.write_text(json.dumps({**info, "expiry": "2000-01-01T00:00:00Z"}))
        self.emu.break_next(times, mode, prefix="/token", delay=3.0)

    def token_requests(self) -> int:
        return len(self.emu.round_trips("/token"))

    def wire(self) -> list[Wire]:
        out = []
        for r in self.emu.round_trips():
            if r.path.startswith("/batch/"):
                stage = "metadata"
            elif r.path.startswith("/gmail/"):
                stage = "list" if r.path.endswith("/messages") else "fetch"
            else:
                continue  # the token endpoint
            out.append(Wire(stage, r.status, r.fault))
        return out


class GraphRig(Rig):
    name = "graph"
    persistent_attempts = 5  # max_attempts
    backoff = (1.0, 2.0, 4.0)  # base 1 s doubling, jitter pinned at its top
    PART: ClassVar[dict[str, str]] = {"list": "/mailFolders/inbox/messages", "fetch": "/$value"}

    def __init__(self, idp: IdentityEmulator, graph: GraphEmulator, ca: LoopbackCA) -> None:
        super().__init__()
        self.idp = idp
        self.graph = graph
        self.ca = ca

    def deliver(self, raw: bytes, received: datetime) -> str:
        return self.graph.add_message(UPN, raw, received)

    def delete(self, ref: str) -> None:
        self.graph.remove_message(UPN, ref)

    def profile(self) -> dict[str, Any]:
        return {
            "url": f"outlook://{UPN}",
            "client_id": APP_ID,
            "tenant": self.idp.tenant_id,
            "authority": self.idp.authority(),
            "graph_endpoint": self.graph.endpoint,
            "client_secret_env": "TEST_APP_SECRET",
            "folder": "inbox",  # a list path of its own, so faults can target lists only
        }

    def provider(self, *, timeout: float = 5.0, budget: float | None = None) -> Provider:
        profile = {k: v for k, v in self.profile().items() if k != "url"}
        options = SourceOptions(ca_file=str(self.ca.ca_file), timeout=timeout, profile=profile)
        provider = outlook_module.OutlookProvider.from_url(f"outlook://{UPN}", options)
        if budget is None:  # pauses recorded, not slept; no jitter
            provider.retry = dataclasses.replace(
                outlook_module.DEFAULT_RETRY, sleep=self.sleeps.append, random=lambda: 1.0
            )
        else:
            provider.retry = RetryPolicy(
                max_attempts=100, base_delay=0.01, max_delay=0.02, max_total=budget
            )
        return provider

    def break_next(self, stage: str, mode: str, times: int = 1, delay: float = 2.0) -> None:
        self.graph.break_next(mode, times, self.PART[stage], delay)

    def fail_next(
        self, stage: str, status: int, times: int, retry_after: str | None = None
    ) -> None:
        self.graph.inject(status, times, retry_after, path_part=self.PART[stage])

    def break_token_endpoint(self, mode: str, times: int = 1000) -> None:
        self.idp.break_next(mode, times, "/oauth2/v2.0/token", 3.0)  # a new app asks for one

    def token_requests(self) -> int:
        return sum(r.path.endswith("/oauth2/v2.0/token") for r in self.idp.requests)

    def wire(self) -> list[Wire]:
        return [
            Wire("fetch" if r.path.endswith("/$value") else "list", r.status, r.fault)
            for r in self.graph.requests
            if not r.path.endswith("/$batch")  # naming the finding's folder, after the fetch
        ]


@pytest.fixture(params=["gmail", "graph"])
def rig(
    request: pytest.FixtureRequest,
    ca: LoopbackCA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Rig]:
    if request.param == "gmail":
        with GmailEmulator() as emu:
            creds = tmp_path / "gmail.json"
            info = emu.authorized_user_info(
                token=emu.issue_access_token(), expiry=datetime.now(UTC) + timedelta(hours=1)
            )
            creds.write_text(json.dumps(info))
            creds.chmod(0o600)
            yield GmailRig(emu, creds)
        return
    monkeypatch.setenv("TEST_APP_SECRET", SECRET)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))  # for the CLI, which has no CA
    with IdentityEmulator(ca) as idp, GraphEmulator(idp, ca) as graph:
        idp.register_app(APP_ID, secret=SECRET)
        graph.add_mailbox(UPN)
        yield GraphRig(idp, graph, ca)


def mailbox(rig: Rig) -> str:
    """An older token mail, the newest token mail and newer noise; returns the newest's id."""
    rig.deliver(token_mail(1, OLD_TOKEN), T0)
    newest = rig.deliver(token_mail(2, NEW_TOKEN), T0 + timedelta(hours=1))
    rig.deliver(noise_mail(3), T0 + timedelta(hours=2))
    return newest


# --- truncated answers ----------------------------------------------------------------------

CUT_CASES = pytest.mark.parametrize(
    ("rig", "stage", "mode"),
    [
        ("gmail", "list", "truncate"),
        ("gmail", "list", "cut-json"),
        ("gmail", "metadata", "truncate"),  # the metadata batch
        ("gmail", "metadata", "cut-json"),  # a cut multipart: batch parts go missing
        ("gmail", "fetch", "truncate"),
        ("gmail", "fetch", "cut-json"),  # the raw message is base64 in JSON
        ("graph", "list", "truncate"),
        ("graph", "list", "cut-json"),
        ("graph", "fetch", "truncate"),
        # No ("graph", "fetch", "cut-json"): $value is bare MIME with its own Content-Length,
        # so a complete answer with a cut body is indistinguishable from a short message.
    ],
    indirect=["rig"],
)


@CUT_CASES
def test_one_cut_answer_is_retried_and_gives_the_right_token(
    rig: Rig, stage: str, mode: str
) -> None:
    mailbox(rig)
    rig.break_next(stage, mode)
    assert find_token(rig.provider()).token == NEW_TOKEN
    faulted = [w for w in rig.wire() if w.fault]
    assert faulted == [Wire(stage, 200, mode)]
    assert rig.attempts(stage) == 2  # the cut answer and one retry
    assert rig.sleeps == [rig.backoff[0]]


@CUT_CASES
def test_persistent_cut_answers_are_mailbox_error(rig: Rig, stage: str, mode: str) -> None:
    mailbox(rig)
    rig.break_next(stage, mode, times=1000)
    with pytest.raises(MailboxError) as info:
        find_token(rig.provider())
    message = str(info.value)
    assert info.value.exit_code == ExitCode.MAILBOX
    assert ("cut off" if mode == "truncate" else "malformed") in message, message
    assert f"{rig.persistent_attempts} attempts" in message, message
    assert rig.attempts(stage) == rig.persistent_attempts
    assert len(rig.sleeps) == rig.persistent_attempts - 1
    assert NEW_TOKEN not in message and OLD_TOKEN not in message


# --- slow answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("stage", "mode"), [("list", "stall"), ("fetch", "stall-body")])
def test_one_slow_answer_is_retried_and_gives_the_right_token(
    rig: Rig, stage: str, mode: str
) -> None:
    mailbox(rig)
    rig.break_next(stage, mode, delay=3.0)
    started = time.monotonic()
    assert find_token(rig.provider(timeout=TIMEOUT, budget=5.0)).token == NEW_TOKEN
    elapsed = time.monotonic() - started
    assert TIMEOUT <= elapsed < 3.0  # one timeout, not the server's 3 s stall
    assert rig.attempts(stage) == 2


@pytest.mark.parametrize("mode", ["stall", "stall-body"])
def test_persistently_slow_answers_end_within_the_budget(rig: Rig, mode: str) -> None:
    mailbox(rig)
    rig.break_next("list", mode, times=1000, delay=3.0)
    budget = 0.8
    started = time.monotonic()
    with pytest.raises(MailboxError) as info:
        find_token(rig.provider(timeout=TIMEOUT, budget=budget))
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert info.value.exit_code == ExitCode.MAILBOX
    assert "timed out" in message and f"{TIMEOUT:g}s" in message, message
    # Attempts start while the budget lasts (at 0 s and ~0.5 s); each waits TIMEOUT at most.
    assert rig.attempts("list") == 2
    assert elapsed < budget + TIMEOUT + 1.5  # generous, for loaded CI machines
    assert f"{rig.attempts('list')} attempts" in message, message


# --- error statuses -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_burst_then_success(rig: Rig, status: int) -> None:
    mailbox(rig)
    rig.fail_next("list", status, times=3)
    assert find_token(rig.provider()).token == NEW_TOKEN
    wire = rig.wire()
    assert [w.status for w in wire if w.stage == "list"] == [status] * 3 + [200]
    after = ["metadata", "fetch"] if rig.name == "gmail" else ["fetch"]
    assert [w.stage for w in wire[4:]] == after  # then the usual lookup, nothing more
    assert rig.sleeps == list(rig.backoff)


def test_5xx_burst_on_the_second_step(rig: Rig) -> None:
    mailbox(rig)
    stage = "metadata" if rig.name == "gmail" else "fetch"
    rig.fail_next(stage, 503, times=2)
    assert find_token(rig.provider()).token == NEW_TOKEN
    assert [w.status for w in rig.wire() if w.stage == stage] == [503, 503, 200]
    assert rig.sleeps == list(rig.backoff[:2])


def test_5xx_burst_longer_than_the_policy_is_mailbox_error(rig: Rig) -> None:
    mailbox(rig)
    rig.fail_next("list", 503, times=rig.persistent_attempts)  # as many as the policy tries
    with pytest.raises(MailboxError, match="HTTP 503") as info:
        find_token(rig.provider())
    assert info.value.exit_code == ExitCode.MAILBOX
    assert rig.attempts("list") == rig.persistent_attempts


def test_429_without_retry_after_backs_off(rig: Rig) -> None:
    mailbox(rig)
    rig.fail_next("list", 429, times=2)
    assert find_token(rig.provider()).token == NEW_TOKEN
    assert [w.status for w in rig.wire() if w.stage == "list"] == [429, 429, 200]
    assert rig.sleeps == list(rig.backoff[:2])


@pytest.mark.parametrize("mode", ["truncate", "cut-json", "stall"])
def test_one_token_endpoint_fault_is_retried(rig: Rig, mode: str) -> None:
    """A fault at the OAuth token endpoint (Google's, or Entra's for Graph) is retried like an
    API fault: the second token request succeeds and the lookup finds the right token."""
    mailbox(rig)
    rig.break_token_endpoint(mode, times=1)
    assert find_token(rig.provider(timeout=TIMEOUT, budget=5.0)).token == NEW_TOKEN
    assert rig.token_requests() == 2


@pytest.mark.parametrize("mode", ["truncate", "cut-json", "stall"])
def test_persistent_token_endpoint_faults_are_mailbox_error(rig: Rig, mode: str) -> None:
    """Persistent faults there end in exit 4 within the retry budget (plus one timeout), never
    taken for a configuration error, and the mailbox API is not called without a token."""
    mailbox(rig)
    rig.break_token_endpoint(mode)
    budget = 1.2
    started = time.monotonic()
    with pytest.raises(MailboxError, match=r"(token|identity) endpoint") as info:
        find_token(rig.provider(timeout=TIMEOUT, budget=budget))
    assert info.value.exit_code == ExitCode.MAILBOX
    assert "gave up after" in str(info.value), info.value
    assert rig.token_requests() >= 2
    assert rig.wire() == []
    assert time.monotonic() - started < budget + TIMEOUT + 1.5


# --- a message deleted between list and fetch -----------------------------------------------


def test_message_deleted_between_list_and_fetch(rig: Rig) -> None:
    """The newest token mail vanishes after it was listed: skipped, the older token is found.

    A vanished message is not a token; the older one is then the newest token mail the
    mailbox holds. The provider raises MessageVanishedError and the engine moves on.
    """
    newest = mailbox(rig)
    provider = rig.provider()
    search = provider.search

    def search_then_delete(query: Query) -> Iterator[Candidate]:
        for candidate in search(query):
            if candidate.ref == newest:
                rig.delete(newest)  # a user or a mail rule, between the list and the fetch
            yield candidate

    provider.search = search_then_delete  # type: ignore[method-assign]
    assert find_token(provider).token == OLD_TOKEN
    assert [w.status for w in rig.wire() if w.stage == "fetch"] == [404, 200]
    assert rig.sleeps == []


# --- through the CLI ------------------------------------------------------------------------


def write_config(tmp_path: Path, profile: dict[str, Any]) -> Path:
    lines = ["[mailbox.work]", *(f"{key} = {json.dumps(value)}" for key, value in profile.items())]
    config = tmp_path / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``inbox-finder --config CONFIG ARGS`` for a rig's profile: (exit code, out, err)."""
    from inbox_finder.cli.main import main

    # The CLI builds its own retry policies: keep their backoff tiny and their budget short.
    quick_gmail = dataclasses.replace(gmail_module.DEFAULT_RETRY, base_delay=0.001)
    quick_graph = dataclasses.replace(outlook_module.DEFAULT_RETRY, base_delay=0.001, max_total=0.6)
    monkeypatch.setattr(gmail_module, "DEFAULT_RETRY", quick_gmail)
    monkeypatch.setattr(outlook_module, "DEFAULT_RETRY", quick_graph)

    def run(rig: Rig, *args: str, **keys: Any) -> tuple[int, str, str]:
        config = write_config(tmp_path, {**rig.profile(), **keys})
        code = main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_401_is_exit_3_in_one_line_without_a_retry_loop(
    rig: Rig, cli: Callable[..., tuple[int, str, str]]
) -> None:
    mailbox(rig)
    rig.fail_next("list", 401, times=1000)
    code, out, err = cli(rig, "find", "work")
    assert (code, out) == (ExitCode.AUTH, "")
    assert err.count("\n") == 1 and err.startswith("inbox-finder: error: ")
    assert "401" in err and "Traceback" not in err
    if isinstance(rig, GmailRig):  # one token refresh, one more try, then stop
        trips = [(r.path.rsplit("/", 1)[-1], r.status) for r in rig.emu.round_trips()]
        assert trips == [("messages", 401), ("token", 200), ("messages", 401)]
    else:
        assert rig.wire() == [Wire("list", 401, "")]


@pytest.mark.parametrize("mode", ["truncate", "cut-json", "stall"])
def test_cli_persistent_fault_is_exit_4_in_one_line(
    rig: Rig, cli: Callable[..., tuple[int, str, str]], mode: str
) -> None:
    mailbox(rig)
    rig.break_next("list", mode, times=1000, delay=3.0)
    started = time.monotonic()
    # retry_max_seconds is a Gmail key (Graph's budget is QuickGraphRetry's max_total above).
    budget = {"retry_max_seconds": 0.6} if isinstance(rig, GmailRig) else {}
    code, out, err = cli(rig, "find", "work", "--timeout", "0.2", **budget)
    assert (code, out) == (ExitCode.MAILBOX, "")
    assert err.count("\n") == 1 and err.startswith("inbox-finder: error: ")
    assert "Traceback" not in err and "internal error" not in err
    assert NEW_TOKEN not in err and OLD_TOKEN not in err
    assert rig.attempts("list") >= 2  # retried, within the 0.6 s budget
    assert time.monotonic() - started < 0.6 + 0.2 + 2.0
