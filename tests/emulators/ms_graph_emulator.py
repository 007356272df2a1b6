"""A Microsoft Graph v1.0 mail emulator: list messages (with the documented query rules) and $value.

Tokens are checked against the IdentityEmulator that issued them. Messages are loaded from raw
RFC 822 bytes plus a receivedDateTime, so the golden corpus (tests/corpus) loads as-is.
A list without ``$orderby`` comes in delivery order, not newest first: Graph promises no order.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .ms_emulators import IdentityEmulator, Json, LoopbackCA, Reply, _Emulator
from .ms_graph_folders import FolderTree

PROPERTIES = (
    "id",
    "receivedDateTime",
    "sentDateTime",
    "from",
    "sender",
    "subject",
    "internetMessageId",
    "parentFolderId",
    "isRead",
    "hasAttachments",
    "bodyPreview",
)
WELL_KNOWN = ("inbox", "archive", "junkemail", "deleteditems", "sentitems", "drafts")
FOLDER_PROPERTIES = (
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
)
NOT_FOUND = ("ErrorItemNotFound", "The specified object was not found in the store.")
INVALID_NODES = (
    "ErrorInvalidUrlQueryFilter",
    "The query filter contains one or more invalid nodes.",
)
_CMP = re.compile(r"^([A-Za-z]+(?:/[A-Za-z]+)*)\s+(eq|ne|ge|gt|le|lt)\s+(.+)$", re.IGNORECASE)
_FUNC = re.compile(
    r"^(startswith|endswith|contains)\(\s*([A-Za-z/]+)\s*,\s*'(.*)'\s*\)$", re.IGNORECASE
)
Predicate = Callable[["StoredMessage"], bool]


@dataclass
class StoredMessage:
    """A message as Graph stores it: raw MIME plus the properties derived from it."""

    id: str
    raw: bytes
    received: dt.datetime
    folder: str
    from_name: str = ""
    from_address: str = ""
    subject: str = ""
    internet_message_id: str = ""

    def resource(self) -> Json:
        frm = (
            {"emailAddress": {"name": self.from_name, "address": self.from_address}}
            if self.from_address
            else None
        )
        return {
            "id": self.id,
            "receivedDateTime": _iso(self.received),
            "sentDateTime": _iso(self.received),
            "from": frm,
            "sender": frm,
            "subject": self.subject,
            "internetMessageId": self.internet_message_id,
            "parentFolderId": self.folder,
            "isRead": False,
            "hasAttachments": False,
            "bodyPreview": "",
        }


@dataclass
class Fault:
    """An injected failure for the next ``times`` requests whose path contains ``path_part``."""

    status: int
    times: int = 1
    retry_after: str | None = None
    code: str = "TooManyRequests"
    path_part: str = ""


@dataclass
class GraphError(Exception):
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_top(expr: str, word: str) -> list[str]:
    """Split on `` and ``/`` or `` outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    sep = f" {word} "
    while i < len(expr):
        ch = expr[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        elif not quoted and depth == 0 and expr[i : i + len(sep)].lower() == sep:
            parts.append(expr[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    parts.append(expr[start:])
    return [p.strip() for p in parts]


def _field(msg: StoredMessage, prop: str) -> str:
    return {
        "from/emailaddress/address": msg.from_address.lower(),
        "sender/emailaddress/address": msg.from_address.lower(),
        "subject": msg.subject.lower(),
    }.get(prop, "")


def parse_filter(expr: str) -> tuple[list[str], Predicate]:
    """(properties in order of appearance, predicate) for the $filter subset Graph mail takes."""
    props: list[str] = []
    preds: list[Predicate] = []
    for clause in _split_top(expr, "and"):
        if clause.startswith("(") and clause.endswith(")"):
            alts = [parse_filter(alt) for alt in _split_top(clause[1:-1], "or")]
            props.extend(p for p in alts[0][0] if p not in props)
            preds.append(lambda m, alts=alts: any(pred(m) for _, pred in alts))  # type: ignore[misc]
            continue
        func = _FUNC.match(clause)
        if func:
            name, prop, value = func.group(1).lower(), func.group(2).lower(), func.group(3).lower()
            if name != "startswith" and "emailaddress" in prop:
                raise GraphError(400, *INVALID_NODES)
            op = {
                "startswith": str.startswith,
                "endswith": str.endswith,
                "contains": str.__contains__,
            }[name]
            props.append(prop)
            preds.append(lambda m, p=prop, v=value, op=op: op(_field(m, p), v))  # type: ignore[misc]
            continue
        cmp = _CMP.match(clause)
        if not cmp:
            raise GraphError(400, *INVALID_NODES)
        prop, op_name, literal = cmp.group(1).lower(), cmp.group(2).lower(), cmp.group(3).strip()
        props.append(prop)
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "ge": lambda a, b: a >= b,
            "gt": lambda a, b: a > b,
            "le": lambda a, b: a <= b,
            "lt": lambda a, b: a < b,
        }
        if prop == "receiveddatetime":
            try:
                when = dt.datetime.fromisoformat(literal.replace("Z", "+00:00"))
            except ValueError:
                raise GraphError(400, "BadRequest", f"Invalid date literal {literal}") from None
            when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
            preds.append(lambda m, w=when, f=ops[op_name]: f(m.received, w))  # type: ignore[misc]
        elif prop in {"from/emailaddress/address", "sender/emailaddress/address", "subject"}:
            if not (literal.startswith("'") and literal.endswith("'")):
                raise GraphError(400, *INVALID_NODES)
            value = literal[1:-1].replace("''", "'").lower()
            preds.append(lambda m, p=prop, v=value, f=ops[op_name]: f(_field(m, p), v))  # type: ignore[misc]
        else:
            raise GraphError(400, *INVALID_NODES)
    return props, lambda m: all(pred(m) for pred in preds)


class GraphEmulator(_Emulator):
    """Graph v1.0: /me|/users/{upn} messages, mailFolders/{id}/messages, messages/{id}/$value."""

    def __init__(self, identity: IdentityEmulator, tls: LoopbackCA | None = None) -> None:
        super().__init__(tls)
        self.identity = identity
        self.mailboxes: dict[str, list[StoredMessage]] = {}
        self.folders: dict[str, FolderTree] = {}
        self.faults: list[Fault] = []
        self._pages: dict[str, tuple[str, int]] = {}
        self.next_links: list[str] = []  # every @odata.nextLink handed out, in order
        # Each $batch call's parts as (path, status), in order: what a JSON batch asked for.
        self.batches: list[list[tuple[str, int]]] = []

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/v1.0"

    def add_mailbox(self, upn: str) -> None:
        self.mailboxes.setdefault(upn.lower(), [])
        self.folders.setdefault(upn.lower(), FolderTree())

    def folder(self, upn: str, path: str) -> str:
        """The id of the folder at a well-known name or displayName path (created if needed)."""
        with self.lock:
            self.add_mailbox(upn)
            return self.folders[upn.lower()].ensure(path).id

    def move_message(self, upn: str, message_id: str, folder: str) -> None:
        """Move a message to another folder (it keeps its id here and its receivedDateTime)."""
        target = self.folder(upn, folder)
        with self.lock:
            for msg in self.mailboxes[upn.lower()]:
                if msg.id == message_id:
                    msg.folder = target

    def add_message(
        self, upn: str, raw: bytes, received: dt.datetime, folder: str = "inbox"
    ) -> str:
        """Deliver ``raw`` into ``folder`` (well-known name or displayName path, created if
        needed); returns the Graph message id."""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        msg = StoredMessage(
            "AAMkAD" + secrets.token_urlsafe(24) + "AAA=",
            raw,
            received.astimezone(dt.UTC),
            self.folder(upn, folder),
        )
        try:
            addresses = parsed["From"].addresses if parsed["From"] else ()
            if addresses:
                msg.from_name, msg.from_address = addresses[0].display_name, addresses[0].addr_spec
            msg.subject = str(parsed["Subject"] or "")
        except (AttributeError, IndexError, ValueError):
            pass  # Graph, too, shows odd headers as best it can
        msg.internet_message_id = str(parsed["Message-ID"] or "").strip()
        with self.lock:
            self.mailboxes.setdefault(upn.lower(), []).append(msg)
        return msg.id

    def load_corpus(self, upn: str, corpus_dir: Path) -> dict[str, str]:
        """Load ``*.eml`` with their expected.json receive times; returns file -> message id."""
        entries = json.loads((corpus_dir / "expected.json").read_text(encoding="utf-8"))
        return {
            e["file"]: self.add_message(
                upn, (corpus_dir / e["file"]).read_bytes(), dt.datetime.fromisoformat(e["received"])
            )
            for e in entries
        }

    def remove_message(self, upn: str, message_id: str) -> None:
        """Delete a message for good (as a user or a mail rule would, between two calls)."""
        with self.lock:
            box = self.mailboxes[upn.lower()]
            box[:] = [x for x in box if x.id != message_id]

    def inject(
        self, status: int, times: int = 1, retry_after: str | None = None, path_part: str = ""
    ) -> None:
        code = {
            401: "InvalidAuthenticationToken",
            429: "TooManyRequests",
            503: "ServiceNotAvailable",
            504: "GatewayTimeout",
        }.get(status, "generalException")
        with self.lock:
            self.faults.append(Fault(status, times, retry_after, code, path_part))

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        try:
            if method == "POST" and path == "/v1.0/$batch":
                return self._batch(headers, body)
            return self._route(method, path, query, headers)
        except GraphError as err:
            inner = {"request-id": str(uuid.uuid4()), "date": _iso(dt.datetime.now(dt.UTC))}
            return Reply(
                err.status,
                {"error": {"code": err.code, "message": err.message, "innerError": inner}},
                err.headers,
            )

    def _route(self, method: str, path: str, query: str, headers: dict[str, str]) -> Reply:
        for fault in self.faults:
            if fault.times > 0 and fault.path_part in path:
                fault.times -= 1
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                message = (
                    "Access token has expired or is not yet valid."
                    if fault.status == 401
                    else "Too many requests or service busy."
                )
                raise GraphError(fault.status, fault.code, message, extra)
        folders = re.fullmatch(
            r"/v1\.0/(me|users/([^/]+))/mailFolders(?:/([^/]+)(/childFolders)?)?", path
        )
        if method == "GET" and folders:
            upn = self._authorize(headers, unquote(folders.group(2)) if folders.group(2) else None)
            return self._folders(upn, path, query, folders.group(3), bool(folders.group(4)))
        m = re.fullmatch(
            r"/v1\.0/(me|users/([^/]+))/(messages|mailFolders/([^/]+)/messages)"
            r"(?:/([^/]+)/\$value)?",
            path,
        )
        if method != "GET" or not m:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path}'.")
        upn = self._authorize(headers, unquote(m.group(2)) if m.group(2) else None)
        messages = self.mailboxes[upn]
        if m.group(5):
            ref = unquote(m.group(5))
            found = next((x for x in messages if x.id == ref), None)
            if found is None:
                raise GraphError(404, *NOT_FOUND)
            return Reply(200, found.raw)
        if m.group(4) is None:  # /messages: every folder, Deleted Items and Junk Email too
            return self._list(path, query, messages, upn)
        folder = self.folders[upn].get(unquote(m.group(4)))
        if folder is None:
            raise GraphError(404, *NOT_FOUND)
        scope = [x for x in messages if x.folder == folder.id]  # that folder only, no children
        return self._list(path, query, scope, upn)

    def _folders(self, upn: str, path: str, query: str, key: str | None, children: bool) -> Reply:
        tree = self.folders[upn]
        if key is None:  # /mailFolders: the top-level folders
            items = tree.children(tree.root.id)
        else:
            folder = tree.get(unquote(key))
            if folder is None:
                raise GraphError(404, *NOT_FOUND)
            if not children:
                return Reply(200, self._select(folder.resource(tree), query))
            items = tree.children(folder.id)
        params = dict(parse_qsl(query, keep_blank_values=True))
        if params.get("includeHiddenFolders", "false") != "true":
            items = [f for f in items if not f.hidden]
        top, skip = int(params.get("$top", "10")), int(params.get("$skip", "0"))
        page = items[skip : skip + top]
        out: Json = {"value": [self._select(f.resource(tree), query) for f in page]}
        if skip + top < len(items):
            rest = {**params, "$skip": str(skip + top)}
            out["@odata.nextLink"] = f"{self.base_url}{path}?{urlencode(rest)}"
        return Reply(200, out)

    @staticmethod
    def _select(resource: Json, query: str) -> Json:
        select = dict(parse_qsl(query)).get("$select")
        if not select:
            return resource
        wanted = [s.strip() for s in select.split(",")]
        unknown = [s for s in wanted if s not in FOLDER_PROPERTIES]
        if unknown:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{unknown[0]}' on type "
                "'microsoft.graph.mailFolder'.",
            )
        return {k: v for k, v in resource.items() if k in wanted or k == "id"}

    def _batch(self, headers: dict[str, str], body: bytes) -> Reply:
        """JSON batching: up to 20 GET requests, each answered as it would be on its own."""
        try:
            requests = json.loads(body)["requests"]
        except (ValueError, KeyError, TypeError):
            raise GraphError(400, "BadRequest", "Invalid batch payload.") from None
        if not isinstance(requests, list) or not 1 <= len(requests) <= 20:
            raise GraphError(400, "BadRequest", "Batch must hold 1 to 20 requests.")
        if len({str(item.get("id")) for item in requests}) != len(requests):
            raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
        responses = []
        parts: list[tuple[str, int]] = []
        self.batches.append(parts)
        for item in requests:
            url = str(item.get("url", ""))
            if not url.startswith("/"):
                raise GraphError(400, "BadRequest", "Batch request urls must be relative.")
            path, _, query = url.partition("?")
            try:
                reply = self._route(str(item.get("method", "GET")), "/v1.0" + path, query, headers)
                status, answer, extra = reply.status, reply.body, reply.headers
            except GraphError as err:
                status, extra = err.status, err.headers
                answer = {"error": {"code": err.code, "message": err.message}}
            if isinstance(answer, bytes):
                # A body that is not JSON (a $value download) comes base64-encoded, its part's
                # Content-Type naming the original type.
                ctype, body = "text/plain", base64.b64encode(answer).decode("ascii")
            else:
                ctype, body = "application/json", answer
            responses.append(
                {
                    "id": item.get("id"),
                    "status": status,
                    "headers": {"Content-Type": ctype, **extra},
                    "body": body,
                }
            )
            parts.append((path, status))
        return Reply(200, {"responses": responses})

    def _authorize(self, headers: dict[str, str], user: str | None) -> str:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:]:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        grant = self.identity.grant_for(auth[7:])
        if grant is None:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed, there are no dots (.).",
            )
        if grant.expires < dt.datetime.now(dt.UTC).timestamp():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        if user is None:
            if grant.kind != "user":
                raise GraphError(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                )
            user = grant.subject
        upn = user.lower()
        if upn not in self.mailboxes:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if (grant.kind == "user" and upn != grant.subject.lower()) or (
            grant.kind == "app" and "Mail.Read" not in grant.roles
        ):
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return upn

    def _list(self, path: str, query: str, messages: list[StoredMessage], upn: str) -> Reply:
        params = dict(parse_qsl(query, keep_blank_values=True))
        offset = 0
        if "$skiptoken" in params:
            token = params.pop("$skiptoken")
            rest = urlencode(sorted(params.items()))
            if self._pages.get(token, ("", 0))[0] != rest:
                raise GraphError(
                    400, "ErrorInvalidUrlQuery", "The $skiptoken is invalid for this query."
                )
            offset = self._pages[token][1]
        search, flt, orderby = params.get("$search"), params.get("$filter"), params.get("$orderby")
        if search is not None and orderby:
            raise GraphError(
                400,
                "SearchWithOrderBy",
                "The query parameter '$orderBy' is not supported with '$search'.",
            )
        if search is not None and flt:
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                "The query parameter '$filter' is not supported with '$search'.",
            )
        props, keep = parse_filter(flt) if flt else ([], lambda m: True)
        order = [part.split()[0].lower() for part in orderby.split(",")] if orderby else []
        if flt and order and props[: len(order)] != order:
            raise GraphError(
                400,
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            )
        if order and order != ["receiveddatetime"]:
            raise GraphError(400, "BadRequest", "This emulator only sorts by receivedDateTime.")
        hits = [x for x in messages if keep(x)]  # Graph promises no order without $orderby:
        if order:  # the emulator keeps insertion order then, so a lost $orderby shows
            descending = orderby is not None and orderby.strip().lower().endswith("desc")
            hits.sort(key=lambda x: x.received, reverse=descending)
        if search is not None:
            needle = search.strip('"').lower()
            hits = [x for x in hits if needle in f"{x.subject} {x.from_address}".lower()]
        try:
            top = int(params.get("$top", "10"))
        except ValueError:
            top = 0
        if not 1 <= top <= 1000:
            raise GraphError(400, "ErrorInvalidUrlQuery", "The value of '$top' is invalid.")
        select = (
            [s.strip() for s in params["$select"].split(",")]
            if "$select" in params
            else list(PROPERTIES)
        )
        unknown = [s for s in select if s not in PROPERTIES]
        if unknown:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named "
                f"'{unknown[0]}' on type 'microsoft.graph.message'.",
            )
        page = hits[offset : offset + top]
        value = [
            {
                "@odata.etag": f'W/"{x.id[-8:]}"',
                **{k: v for k, v in x.resource().items() if k in select or k == "id"},
            }
            for x in page
        ]
        out: Json = {
            "@odata.context": f"{self.endpoint}/$metadata#users('{quote(upn)}')/messages",
            "value": value,
        }
        if offset + top < len(hits):
            token = secrets.token_urlsafe(16)
            self._pages[token] = (urlencode(sorted(params.items())), offset + top)
            pairs = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
            out["@odata.nextLink"] = f"{self.base_url}{path}?{pairs}&%24skiptoken={token}"
            self.next_links.append(out["@odata.nextLink"])
        return Reply(200, out)
