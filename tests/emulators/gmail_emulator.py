"""Gmail API v1 emulator for tests: a threaded loopback HTTP server that follows the reference.

Serves what inbox-finder uses, with Google's paths, parameters and error JSON:
``users.messages.list`` (``q`` with from:/to:/subject:/after:/before:/OR/-/parentheses/{}),
``users.messages.get`` (minimal|metadata|raw; ``full`` without MIME parts), ``users.history.list``
(records of messageAdded/messageDeleted/labelAdded/labelRemoved with ``historyTypes``, ``labelId``
and paging; history ids per mailbox, monotonic; 404 for a ``startHistoryId`` older than the
history kept, see ``expire_history``), ``users.getProfile`` (emailAddress, messagesTotal,
threadsTotal, historyId), the batch endpoint ``/batch/gmail/v1``, and an OAuth server (``/auth`` consent that auto-approves, ``/token`` for
authorization_code with PKCE, refresh_token and service-account jwt-bearer grants).
Every request is logged (``requests``) so tests can count round trips and API calls,
``fail_next`` injects 429/403/5xx answers and ``break_next`` transport faults (an answer cut
off mid-body, a complete answer whose JSON is cut, a stall before or inside the answer); both
are opt-in per test, normal calls follow the reference. Quirks kept from Google: ``after:``/``before:`` take
epoch seconds or a date (midnight US Pacific); a userId other than "me" or the token's own
address is 403 "Delegation denied"; list order is whatever ``list_order`` says (real Gmail's is
only roughly newest first).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_REASONS = {
    400: "invalidArgument",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}
try:
    _PACIFIC: tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # no tz database: standard time is what the docs describe anyway
    _PACIFIC = timezone(timedelta(hours=-8))


@dataclass
class Message:
    """One stored message: raw RFC 822 bytes plus Gmail's metadata."""

    id: str
    raw: bytes
    internal_ms: int
    labels: list[str]
    history_id: int

    def header_pairs(self) -> list[tuple[str, str]]:
        """All header fields in order, unfolded, as Gmail's payload.headers lists them."""
        msg = BytesHeaderParser(policy=compat32).parsebytes(self.raw)
        return [(k, re.sub(r"\r?\n[ \t]", " ", str(v))) for k, v in msg.items()]

    def header(self, name: str) -> str:
        return " ".join(v for k, v in self.header_pairs() if k.lower() == name.lower())


HISTORY_KEYS = {  # historyTypes value -> the record field that lists such changes
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


@dataclass(frozen=True)
class HistoryRecord:
    """One change to a mailbox: ``kind`` is a historyTypes value; ``labels`` for label changes."""

    id: int
    kind: str
    msg_id: str
    labels: tuple[str, ...] = ()


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` requests whose path starts with prefix."""

    status: int
    remaining: int
    prefix: str
    retry_after: str | None = None
    reason: str | None = None


WIRE_FAULTS = ("truncate", "cut-json", "stall", "stall-body")


@dataclass
class WireFault:
    """A transport fault for the next ``remaining`` HTTP requests whose path starts with prefix.

    ``truncate``: the real answer with its full Content-Length, half the body, then the
    connection closes. ``cut-json``: a complete answer (Content-Length matches) whose body is
    cut in half, so its JSON (or batch multipart) is invalid. ``stall``: wait ``delay`` seconds
    before answering. ``stall-body``: send the headers and half the body, then wait ``delay``.
    """

    mode: str
    remaining: int
    prefix: str
    delay: float = 0.0


@dataclass
class LoggedRequest:
    """What the emulator saw: one HTTP request, or one part of a batch (``in_batch``)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    in_batch: bool = False
    authorization: str = field(default="", repr=False)
    fault: str = ""  # the WireFault mode applied to this answer, if any


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    wire: WireFault | None = None


def _json(status: int, obj: Any, **headers: str) -> Reply:
    ctype = {"Content-Type": "application/json; charset=UTF-8"}
    return Reply(status, json.dumps(obj).encode(), {**ctype, **headers})


def google_error(
    status: int, message: str, reason: str | None = None, domain: str = "global", **headers: str
) -> Reply:
    """An error in the shape Google APIs return (``error.errors[].reason`` plus ``status``)."""
    reason = reason or _REASONS.get(status, "backendError")
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }
    return _json(status, body, **headers)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- the q language -----------------------------------------------------------------------

Pred = Callable[[Message], bool]
_TOKEN = re.compile(r'\s*(\(|\)|\{|\}|"[^"]*"|[^\s(){}"]+)')
_OPS = {"from", "to", "subject", "after", "before", "label", "in", "rfc822msgid", "is"}


def _date_seconds(value: str) -> int:
    if value.isdigit():
        return int(value)
    y, m, d = (int(x) for x in re.split(r"[/-]", value))
    return int(datetime(y, m, d, tzinfo=_PACIFIC).timestamp())


def _term(op: str | None, word: str) -> Pred:
    w = word.strip('"').lower()
    if op in ("from", "to", "subject", "rfc822msgid"):
        names = {
            "from": ("From",),
            "to": ("To", "Cc", "Bcc", "Delivered-To"),
            "subject": ("Subject",),
            "rfc822msgid": ("Message-ID",),
        }[op]
        return lambda m: any(w in m.header(n).lower() for n in names)
    if op in ("after", "before"):
        bound = _date_seconds(w) * 1000  # after: is inclusive, before: exclusive (day semantics)
        if op == "after":
            return lambda m: m.internal_ms >= bound
        return lambda m: m.internal_ms < bound
    if op in ("label", "in"):
        return lambda m: w == "anywhere" or w.upper() in m.labels
    if op == "is":
        return lambda m: ("UNREAD" in m.labels) == (w == "unread")
    return lambda m: w in m.raw.decode("latin-1").lower()  # full text, roughly


class _QueryParser:
    """Recursive descent over Gmail's search syntax; an operator applies to a group's words."""

    def __init__(self, q: str) -> None:
        self.toks = _TOKEN.findall(q)
        self.i = 0

    def parse(self) -> Pred:
        pred = self._and(None, closer=None)
        if self.i != len(self.toks):
            raise ValueError("unbalanced parentheses")
        return pred

    def _peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _and(self, op: str | None, closer: str | None) -> Pred:
        preds: list[Pred] = []
        while (tok := self._peek()) is not None and tok != closer and tok not in ")}":
            preds.append(self._or(op))
        return lambda m: all(p(m) for p in preds)

    def _or(self, op: str | None) -> Pred:
        preds = [self._unary(op)]
        while self._peek() == "OR":
            self.i += 1
            preds.append(self._unary(op))
        return lambda m: any(p(m) for p in preds)

    def _unary(self, op: str | None) -> Pred:
        tok = self._peek()
        if tok is None:
            raise ValueError("query ends early")
        if tok.startswith("-") and len(tok) > 1:
            self.toks[self.i] = tok[1:]
            inner = self._unary(op)
            return lambda m: not inner(m)
        self.i += 1
        if tok in "({":
            closer = ")" if tok == "(" else "}"
            inner = self._and(op, closer) if tok == "(" else self._any(op)
            if self._peek() != closer:
                raise ValueError("unbalanced parentheses")
            self.i += 1
            return inner
        name, sep, value = tok.partition(":")
        if sep and name.lower() in _OPS:
            if value:
                return _term(name.lower(), value)
            return self._unary(name.lower())  # from:(a OR b): the group inherits the operator
        return _term(op, tok)

    def _any(self, op: str | None) -> Pred:
        preds: list[Pred] = []
        while (tok := self._peek()) is not None and tok != "}":
            preds.append(self._unary(op))
        return lambda m: any(p(m) for p in preds)


def parse_query(q: str) -> Pred:
    """Compile a Gmail ``q`` string into a predicate (ValueError when malformed)."""
    return _QueryParser(q).parse()


# --- the emulator -------------------------------------------------------------------------


class GmailEmulator:
    """Gmail API + OAuth endpoints on 127.0.0.1; use as a context manager or start()/close()."""

    def __init__(
        self,
        users: Iterable[str] = ("dana@example.com",),
        client_id: str = "emu-client.apps.googleusercontent.com",
        client_secret: str = "emu-client-secret",  # noqa: S107 - the emulator's own test secret
    ) -> None:
        self.users = [u.lower() for u in users]
        self.mailboxes: dict[str, dict[str, Message]] = {u: {} for u in self.users}
        # User labels (users.labels): id -> name; system labels are their own ids and names.
        self.user_labels: dict[str, dict[str, str]] = {u: {} for u in self.users}
        self.history: dict[str, list[HistoryRecord]] = {u: [] for u in self.users}
        self.history_floor = 0  # startHistoryId below this is "too old" (404)
        self._base_history_id = 999  # an empty mailbox's historyId
        self.clients = {client_id: client_secret}
        self.client_id, self.client_secret = client_id, client_secret
        self.service_accounts: dict[str, Any] = {}  # email -> public key (cryptography)
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token -> (client_id, user)
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (user, expires_at)
        self.codes: dict[str, tuple[str, str, str | None]] = {}  # code -> (client, user, challenge)
        self.token_ttl = 3600
        self.list_order: Callable[[list[Message]], list[Message]] | None = None
        self.faults: list[Fault] = []
        # Google's batch guide: more than 50 calls in one batch are likely rate limited. The
        # calls after the first ``batch_rate_limit`` of a batch are answered 429 here.
        self.batch_rate_limit = 50
        self.throttled_parts = 0
        self.wire_faults: list[WireFault] = []
        self.requests: list[LoggedRequest] = []
        self.closing = threading.Event()  # ends stalls early when the emulator closes
        self._counter = itertools.count(1)
        self._history_ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # lifecycle
    def start(self) -> GmailEmulator:
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self.closing.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown() (and so every test teardown) fast.
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def close(self) -> None:
        self.closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GmailEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    # mailbox content
    def add_message(
        self,
        raw: bytes,
        received: datetime,
        *,
        user: str | None = None,
        labels: Iterable[str] = ("INBOX",),
    ) -> str:
        """Store raw RFC 822 bytes received at ``received``; return the Gmail message id."""
        ms = int(received.timestamp() * 1000)
        with self._lock:
            user = (user or self.users[0]).lower()
            msg_id = f"{ms:011x}{next(self._counter):05x}"[-16:]
            hid = self._record(user, "messageAdded", msg_id)
            self.mailboxes[user][msg_id] = Message(msg_id, raw, ms, list(labels), hid)
        return msg_id

    def add_label(self, name: str, *, user: str | None = None) -> str:
        """Create a user label (as labels.create would); return its id (``Label_N``)."""
        with self._lock:
            labels = self.user_labels[(user or self.users[0]).lower()]
            label_id = f"Label_{len(labels) + 1}"
            labels[label_id] = name
        return label_id

    def modify_labels(
        self,
        msg_id: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        user: str | None = None,
    ) -> None:
        """Change a message's labels (as messages.modify would), recording history."""
        with self._lock:
            user = (user or self.users[0]).lower()
            msg = self.mailboxes[user][msg_id]
            added = tuple(x for x in add if x not in msg.labels)
            removed = tuple(x for x in remove if x in msg.labels)
            msg.labels = [x for x in msg.labels if x not in removed] + list(added)
            if added:
                msg.history_id = self._record(user, "labelAdded", msg_id, added)
            if removed:
                msg.history_id = self._record(user, "labelRemoved", msg_id, removed)

    def delete_message(self, msg_id: str, *, user: str | None = None) -> None:
        """Delete a message for good (not to TRASH), recording history."""
        with self._lock:
            user = (user or self.users[0]).lower()
            del self.mailboxes[user][msg_id]
            self._record(user, "messageDeleted", msg_id)

    def expire_history(self, user: str | None = None) -> None:
        """Forget the history so far: older start ids get 404, the current one still works."""
        with self._lock:
            self.history_floor = self.current_history_id(user)

    def _record(self, user: str, kind: str, msg_id: str, labels: tuple[str, ...] = ()) -> int:
        hid = next(self._history_ids)
        self.history[user].append(HistoryRecord(hid, kind, msg_id, labels))
        return hid

    def load_corpus(self, directory: Path, *, user: str | None = None) -> dict[str, str]:
        """Load ``*.eml`` with ``expected.json`` receive instants; return file name -> id."""
        expected = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
        rows = (
            expected
            if isinstance(expected, list)
            else [{"file": name, **value} for name, value in expected.items()]
        )
        return {
            row["file"]: self.add_message(
                (directory / row["file"]).read_bytes(),
                datetime.fromisoformat(row["received"]),
                user=user,
            )
            for row in rows
        }

    def current_history_id(self, user: str | None = None) -> int:
        entries = self.history[(user or self.users[0]).lower()]
        return entries[-1].id if entries else max(self._base_history_id, self.history_floor)

    # credentials
    def issue_refresh_token(self, user: str | None = None) -> str:
        token = "1//emu-" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = (self.client_id, (user or self.users[0]).lower())
        return token

    def issue_access_token(self, user: str | None = None, ttl: float | None = None) -> str:
        token = "ya29.emu-" + secrets.token_urlsafe(24)
        expires = time.time() + (self.token_ttl if ttl is None else ttl)
        self.access_tokens[token] = ((user or self.users[0]).lower(), expires)
        return token

    def authorized_user_info(
        self, user: str | None = None, *, token: str | None = None, expiry: datetime | None = None
    ) -> dict[str, Any]:
        """An authorized-user JSON (as ``login`` writes) pointing at this emulator."""
        info: dict[str, Any] = {
            "refresh_token": self.issue_refresh_token(user),
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_uri": self.token_uri,
            "scopes": [SCOPE],
        }
        if token is not None:
            info["token"] = token
        if expiry is not None:
            info["expiry"] = expiry.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
        return info

    def client_secrets(self) -> dict[str, Any]:
        """A Desktop-app client secrets file for the installed-app flow against this emulator."""
        return {
            "installed": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.url + "/auth",
                "token_uri": self.token_uri,
                "redirect_uris": ["http://localhost"],
            }
        }

    def revoke_all(self) -> None:
        """Revoke every access and refresh token (a password change or an admin revoke)."""
        self.access_tokens.clear()
        self.refresh_tokens.clear()

    # faults and the log
    def fail_next(
        self,
        count: int,
        status: int,
        *,
        retry_after: str | None = None,
        reason: str | None = None,
        prefix: str = "/gmail/",
    ) -> None:
        """Answer the next ``count`` requests under ``prefix`` with ``status``."""
        self.faults.append(Fault(status, count, prefix, retry_after, reason))

    def break_next(
        self, count: int, mode: str, *, prefix: str = "/gmail/", delay: float = 2.0
    ) -> None:
        """Apply the transport fault ``mode`` (see WireFault) to the next ``count`` requests
        under ``prefix`` that cross the wire (batch parts are not requests of their own)."""
        if mode not in WIRE_FAULTS:
            raise ValueError(f"unknown wire fault {mode!r}; one of {WIRE_FAULTS}")
        with self._lock:
            self.wire_faults.append(WireFault(mode, count, prefix, delay))

    def api_calls(self) -> list[LoggedRequest]:
        """Gmail API method calls (batch parts included, the batch envelope excluded)."""
        return [r for r in self.requests if r.path.startswith("/gmail/")]

    def round_trips(self, prefix: str = "/") -> list[LoggedRequest]:
        """HTTP requests that crossed the wire (batch parts excluded)."""
        return [r for r in self.requests if not r.in_batch and r.path.startswith(prefix)]

    # dispatch
    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, in_batch: bool = False
    ) -> Reply:
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        with self._lock:
            reply = self._fault(split.path) or self._route(method, split.path, query, headers, body)
            if not in_batch:
                reply.wire = self._wire_fault(split.path)
            self.requests.append(
                LoggedRequest(
                    method,
                    split.path,
                    query,
                    reply.status,
                    in_batch,
                    headers.get("authorization", ""),
                    reply.wire.mode if reply.wire else "",
                )
            )
        return reply

    def _wire_fault(self, path: str) -> WireFault | None:
        for fault in self.wire_faults:
            if fault.remaining > 0 and path.startswith(fault.prefix):
                fault.remaining -= 1
                return fault
        return None

    def _fault(self, path: str) -> Reply | None:
        for fault in self.faults:
            if fault.remaining > 0 and path.startswith(fault.prefix):
                fault.remaining -= 1
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                if path == "/token":
                    return _json(fault.status, {"error": "temporarily_unavailable"}, **extra)
                domain = "usageLimits" if fault.status in (403, 429) else "global"
                return google_error(
                    fault.status, f"Injected failure {fault.status}", fault.reason, domain, **extra
                )
        return None

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if method == "POST" and path == "/token":
            return self._token(body)
        if method == "GET" and path == "/auth":
            return self._authorize(query)
        if method == "POST" and path == "/batch/gmail/v1":
            return self._batch(headers, body)
        if path == "/batch":  # the global batch endpoint is discontinued: per-API URLs only
            return google_error(404, "Not Found", "notFound")
        m = re.fullmatch(
            r"/gmail/v1/users/([^/]+)/(messages|history|profile|labels)(?:/([^/]+))?", path
        )
        if method != "GET" or m is None:
            return google_error(404, f"Method not found: {method} {path}", "notFound")
        user, denied = self._authenticate(headers, unquote(m.group(1)))
        if denied is not None:
            return denied
        kind, msg_id = m.group(2), m.group(3)
        try:
            if kind == "messages" and msg_id is None:
                return self._list(user, query)
            if kind == "messages":
                return self._get(user, msg_id, query)
            if kind == "history" and msg_id is None:
                return self._history(user, query)
            if kind == "labels" and msg_id is None:
                return self._labels(user)
            if kind == "profile" and msg_id is None:
                box = self.mailboxes[user]
                return _json(
                    200,
                    {
                        "emailAddress": user,
                        "messagesTotal": len(box),
                        "threadsTotal": len(box),
                        "historyId": str(self.current_history_id(user)),
                    },
                )
        except ValueError as exc:
            return google_error(400, str(exc), "invalidArgument")
        return google_error(404, "Requested entity was not found.", "notFound")

    def _authenticate(self, headers: dict[str, str], user_id: str) -> tuple[str, Reply | None]:
        auth = headers.get("authorization", "")
        entry = self.access_tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if entry is None or entry[1] < time.time():
            msg = (
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential."
            )
            return "", google_error(
                401,
                msg,
                "authError",
                WWW_Authenticate=(
                    'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                ),
            )
        user = entry[0]
        if user_id != "me" and user_id.lower() != user:
            return user, google_error(403, f"Delegation denied for {user}", "forbidden")
        return user, None

    def _visible(self, user: str, query: dict[str, list[str]]) -> list[Message]:
        pred = parse_query(query.get("q", [""])[0])
        spam_ok = query.get("includeSpamTrash", ["false"])[0] == "true"
        labels = query.get("labelIds", [])
        msgs = [
            m
            for m in self.mailboxes[user].values()
            if (spam_ok or not {"SPAM", "TRASH"} & set(m.labels))
            and all(label in m.labels for label in labels)
            and pred(m)
        ]
        if self.list_order is not None:
            return self.list_order(msgs)
        return sorted(msgs, key=lambda m: m.internal_ms, reverse=True)

    @staticmethod
    def _page(
        items: list[Any], query: dict[str, list[str]], default: int
    ) -> tuple[list[Any], str | None]:
        size = int(query.get("maxResults", [str(default)])[0])
        if not 1 <= size <= 500:
            raise ValueError("Invalid maxResults")
        token = query.get("pageToken", [""])[0]
        start = int(_unb64url(token).decode()) if token else 0
        end = start + size
        return items[start:end], (_b64url(str(end).encode()) if end < len(items) else None)

    def _list(self, user: str, query: dict[str, list[str]]) -> Reply:
        msgs = self._visible(user, query)
        page, next_token = self._page(msgs, query, 100)
        out: dict[str, Any] = {"resultSizeEstimate": len(msgs)}
        if page:
            out["messages"] = [{"id": m.id, "threadId": m.id} for m in page]
        if next_token:
            out["nextPageToken"] = next_token
        return _json(200, out)

    def _labels(self, user: str) -> Reply:
        """users.labels.list: system labels (id = name, type system) and the user's labels."""
        system = ["INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT"]
        system += ["CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CHAT"]
        labels = [{"id": x, "name": x, "type": "system"} for x in system]
        labels += [
            {"id": i, "name": n, "type": "user", "messageListVisibility": "show"}
            for i, n in self.user_labels[user].items()
        ]
        return _json(200, {"labels": labels})

    def _get(self, user: str, msg_id: str, query: dict[str, list[str]]) -> Reply:
        if not re.fullmatch(r"[0-9a-f]{1,32}", msg_id):
            return google_error(400, "Invalid id value", "invalidArgument")
        msg = self.mailboxes[user].get(msg_id)
        if msg is None:
            return google_error(404, "Requested entity was not found.", "notFound")
        fmt = query.get("format", ["full"])[0].lower()
        if fmt not in ("minimal", "metadata", "raw", "full"):
            return google_error(400, f"Invalid value at 'format' ({fmt})", "invalidArgument")
        text = msg.raw.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace")
        out: dict[str, Any] = {
            "id": msg.id,
            "threadId": msg.id,
            "labelIds": msg.labels,
            "snippet": " ".join(text.split())[:200],
            "sizeEstimate": len(msg.raw),
            "historyId": str(msg.history_id),
            "internalDate": str(msg.internal_ms),
        }
        if fmt == "raw":
            out["raw"] = _b64url(msg.raw)
        elif fmt in ("metadata", "full"):
            wanted = {h.lower() for h in query.get("metadataHeaders", [])}
            pairs = [
                (k, v)
                for k, v in msg.header_pairs()
                if fmt == "full" or not wanted or k.lower() in wanted
            ]
            # format=full would also carry the MIME part tree; nothing here reads it.
            out["payload"] = {
                "partId": "",
                "mimeType": "text/plain",
                "filename": "",
                "headers": [{"name": k, "value": v} for k, v in pairs],
            }
        return _json(200, out)

    def _history(self, user: str, query: dict[str, list[str]]) -> Reply:
        start = query.get("startHistoryId", [""])[0]
        if not start.isdigit():
            return google_error(400, "Missing or invalid startHistoryId", "invalidArgument")
        if int(start) < self.history_floor:
            return google_error(404, "Requested entity was not found.", "notFound")
        types = query.get("historyTypes", [])
        bad = [t for t in types if t not in HISTORY_KEYS]
        if bad:
            return google_error(400, f"Invalid value at 'history_types' ({bad[0]})")
        label = query.get("labelId", [None])[0]
        box = self.mailboxes[user]
        records = []
        for rec in self.history[user]:
            msg = box.get(rec.msg_id)
            now = msg.labels if msg is not None else []
            if rec.id <= int(start) or (types and rec.kind not in types):
                continue
            if label is not None and label not in (*now, *rec.labels):
                continue
            ref = {"id": rec.msg_id, "threadId": rec.msg_id}
            change: dict[str, Any] = {"message": {**ref, "labelIds": list(now)} if msg else ref}
            if rec.labels:
                change["labelIds"] = list(rec.labels)
            records.append({"id": str(rec.id), "messages": [ref], HISTORY_KEYS[rec.kind]: [change]})
        page, next_token = self._page(records, query, 100)
        out: dict[str, Any] = {"historyId": str(self.current_history_id(user))}
        if page:
            out["history"] = page
        if next_token:
            out["nextPageToken"] = next_token
        return _json(200, out)

    def _batch(self, headers: dict[str, str], body: bytes) -> Reply:
        envelope = b"Content-Type: " + headers.get("content-type", "").encode() + b"\r\n\r\n"
        mime = BytesParser(policy=compat32).parsebytes(envelope + body)
        if not mime.is_multipart():
            return google_error(400, "Batch request is not multipart/mixed", "badRequest")
        parts = mime.get_payload()
        if len(parts) > 100:
            return google_error(400, "Too many requests in batch (max 100)", "badRequest")
        boundary = "batch_" + secrets.token_hex(8)
        out: list[bytes] = []
        for index, part in enumerate(parts):
            assert isinstance(part, EmailMessage)
            payload = part.get_payload()
            assert isinstance(payload, str)
            head, _, inner_body = payload.replace("\r\n", "\n").partition("\n\n")
            request_line, *lines = head.split("\n")
            method, target, _ = request_line.split(" ", 2)
            inner = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
            if index >= self.batch_rate_limit:
                self.throttled_parts += 1
                reply = google_error(429, "Rate Limit Exceeded", "rateLimitExceeded")
            else:
                reply = self.handle(method, target, inner, inner_body.encode(), in_batch=True)
            cid = part.get("Content-ID", "<x>")
            extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: "
                f"<response-{cid[1:]}\r\n\r\nHTTP/1.1 {reply.status} X\r\n{extra}\r\n".encode()
                + reply.body
                + b"\r\n"
            )
        out.append(f"--{boundary}--\r\n".encode())
        return Reply(200, b"".join(out), {"Content-Type": f"multipart/mixed; boundary={boundary}"})

    # OAuth
    def _authorize(self, query: dict[str, list[str]]) -> Reply:
        def arg(name: str) -> str:
            return query.get(name, [""])[0]

        if arg("client_id") not in self.clients or not arg("redirect_uri"):
            return Reply(400, b"Error 400: invalid_request")
        code = "4/emu-" + secrets.token_urlsafe(16)
        self.codes[code] = (arg("client_id"), self.users[0], arg("code_challenge") or None)
        params = urlencode({"state": arg("state"), "code": code, "scope": arg("scope")})
        return Reply(302, b"", {"Location": f"{arg('redirect_uri')}?{params}"})

    def _token(self, body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            return self._jwt_grant(form.get("assertion", ""))
        client = form.get("client_id", "")
        if self.clients.get(client) != form.get("client_secret"):
            return _json(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if grant == "refresh_token":
            entry = self.refresh_tokens.get(form.get("refresh_token", ""))
            if entry is None or entry[0] != client:
                return _json(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    },
                )
            return _json(
                200,
                {
                    "access_token": self.issue_access_token(entry[1]),
                    "expires_in": self.token_ttl,
                    "scope": SCOPE,
                    "token_type": "Bearer",
                },
            )
        if grant == "authorization_code":
            entry_code = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = _b64url(hashlib.sha256(verifier.encode()).digest()).rstrip("=")
            if entry_code is None or (entry_code[2] is not None and entry_code[2] != challenge):
                return _json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
            user = entry_code[1]
            return _json(
                200,
                {
                    "access_token": self.issue_access_token(user),
                    "refresh_token": self.issue_refresh_token(user),
                    "expires_in": self.token_ttl,
                    "scope": SCOPE,
                    "token_type": "Bearer",
                },
            )
        return _json(400, {"error": "unsupported_grant_type"})

    def _jwt_grant(self, assertion: str) -> Reply:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head, payload, sig = assertion.split(".")
            claims = json.loads(_unb64url(payload))
            key = self.service_accounts[claims["iss"]]
            key.verify(
                _unb64url(sig), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        # Any malformed or unverifiable assertion is the same OAuth error (ValueError covers bad
        # base64, JSON and a wrong number of parts; KeyError/TypeError odd or unknown claims).
        except (ValueError, KeyError, TypeError, InvalidSignature):
            return _json(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        subject = str(claims.get("sub", "")).lower()
        if subject not in self.users:
            return _json(
                401,
                {
                    "error": "unauthorized_client",
                    "error_description": "Client is "
                    "unauthorized to retrieve access tokens using this method.",
                },
            )
        return _json(
            200,
            {
                "access_token": self.issue_access_token(subject),
                "expires_in": self.token_ttl,
                "token_type": "Bearer",
            },
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects from Google
    # Headers and body in one segment, no Nagle: else each keep-alive reply waits ~40 ms for
    # the client's delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    emu: GmailEmulator

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.emu.handle(self.command, self.path, headers, body)
        mode, delay = (reply.wire.mode, reply.wire.delay) if reply.wire else ("", 0.0)
        if mode == "stall" and self.emu.closing.wait(delay):
            self.close_connection = True
            return
        sent = reply.body[: len(reply.body) // 2] if mode == "cut-json" else reply.body
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(sent)))
            self.end_headers()
            if mode in ("truncate", "stall-body"):
                half = len(sent) // 2
                self.wfile.write(sent[:half])
                self.wfile.flush()
                if mode == "truncate" or self.emu.closing.wait(delay):
                    self.close_connection = True  # the client sees EOF before Content-Length
                    return
                sent = sent[half:]
            self.wfile.write(sent)
        except OSError:  # the client gave up (timed out) while we stalled
            self.close_connection = True

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log is ``GmailEmulator.requests``."""
