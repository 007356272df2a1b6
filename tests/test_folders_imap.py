"""The whole IMAP mailbox on a real Dovecot: every folder, nested, non-ASCII, Trash, Junk.

The server here has special-use folders configured (``Papierkorb`` is ``\\Trash``, ``Junk`` is
``\\Junk``) on top of tests/dovecot.py's config; a second one hides SORT and LIST-STATUS from
its CAPABILITY so the fallback paths (SEARCH + INTERNALDATEs, STATUS per folder) run too.
Every command is checked to leave the flags of every folder as they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inbox_finder import FolderNotFoundError, find_token, find_tokens
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError
from inbox_finder.secret_sources import PASSWORD_ENV
from inbox_finder.testing import dovecot as dovecot_lib
from inbox_finder.testing.dovecot import DovecotServer, require_dovecot
from inbox_finder.testing.mail import new_token, other_mail, token_mail

pytestmark = pytest.mark.imap

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NON_ASCII = "Überfällig ✓ Ablage"
SPECIAL_USE = """\
  mailbox Papierkorb {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
"""
NO_SORT = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE AUTH=PLAIN\n"


def _server(extra_namespace: str = "", extra_config: str = "") -> DovecotServer:
    require_dovecot()
    conf = dovecot_lib.CONFIG
    escaped = extra_namespace.replace("{", "{{").replace("}", "}}")
    conf = conf.replace("  separator = /\n", "  separator = /\n" + escaped)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dovecot_lib, "CONFIG", conf + extra_config.replace("{", "{{"))
        return DovecotServer.start()


@pytest.fixture(scope="module")
def imap() -> Iterator[DovecotServer]:
    server = _server(SPECIAL_USE)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def plain_imap() -> Iterator[DovecotServer]:
    """A server that offers neither SORT nor LIST-STATUS nor SPECIAL-USE."""
    server = _server(extra_config=NO_SORT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def spoof(when: datetime) -> bytes:
    """A token mail From salesforce.com that the receiving server recorded as a DMARC fail."""
    raw = token_mail(new_token(), "dana@example.com", when)
    return b"Authentication-Results: mx.google.com; dmarc=fail header.from=salesforce.com\n" + raw


@dataclass
class Box:
    """A user whose folders hold tokens at known places."""

    server: DovecotServer
    user: str
    tokens: dict[str, str]

    def url(self, folder: str | None = None) -> str:
        return self.server.url(self.user, folder)

    def snapshot(self) -> dict[str, dict[int, tuple[bytes, ...]]]:
        """Flags of every message of every selectable folder (read with EXAMINE)."""
        with self.server.client(self.user) as c:
            names = [n for f, _s, n in c.list_folders() if b"\\Noselect" not in f]
        return {name: self.server.snapshot(self.user, name) for name in names}

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        before = self.snapshot()
        code = main([*args, "--ca-file", self.server.ca_file])
        out, err = capsys.readouterr()
        assert self.snapshot() == before  # nothing the tool does changes a flag
        assert "Traceback" not in err
        return code, out, err


def fill(server: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> Box:
    """INBOX (older tokens), Salesforce (newer), Archive/2026, Trash (dana's newest, deleted),
    Junk (a spoof newer than all), a non-ASCII folder, and messages flagged \\Deleted."""
    user, password = server.new_user("fold")
    monkeypatch.setenv(PASSWORD_ENV, password)
    t = {k: new_token() for k in ("inbox", "inbox_ops", "sf", "arch", "trash", "uat", "deleted")}
    day = timedelta(days=1)
    crlf = _crlf
    server.append_many(
        user,
        [
            (crlf(token_mail(t["inbox"], "dana@example.com", T0 - 10 * day)), T0 - 10 * day),
            (crlf(token_mail(t["inbox_ops"], "ops@example.com", T0 - 9 * day)), T0 - 9 * day),
            (crlf(other_mail(1, T0)), T0),
        ],
    )
    server.append_many(
        user,
        [(crlf(token_mail(t["sf"], "dana@example.com", T0 - 5 * day)), T0 - 5 * day)],
        folder="Salesforce",
    )
    server.append_many(
        user,
        [
            (crlf(token_mail(t["arch"], "ops@example.com", T0 - 4 * day)), T0 - 4 * day),
            # Deleted but not expunged: still in the folder, and the newest for ops.
            (
                crlf(token_mail(t["deleted"], "ops@example.com", T0 - 2 * day)),
                T0 - 2 * day,
                ["\\Deleted", "\\Seen"],
            ),
        ],
        folder="Archive/2026",
    )
    server.append_many(
        user,
        [(crlf(token_mail(t["trash"], "dana@example.com", T0 - day)), T0 - day)],
        folder="Trash",
    )
    server.append_many(user, [(crlf(spoof(T0 + day)), T0 + day)], folder="Junk")
    uat = "dana@example.com.uat"
    server.append_many(
        user,
        [(crlf(token_mail(t["uat"], uat, T0 - 3 * day)), T0 - 3 * day, ["\\Flagged"])],
        folder=NON_ASCII,
    )
    return Box(server, user, t)


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def box(imap: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> Box:
    return fill(imap, monkeypatch)


# ---------------------------------------------------------------- whole mailbox


def test_newest_anywhere_is_in_trash_and_the_junk_spoof_never_wins(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = box.cli(capsys, "find", box.url(), "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["token"], data["folder"], data["folder_role"]) == (
        box.tokens["trash"],
        "Trash",
        "trash",
    )
    code, out, _ = box.cli(capsys, "find", box.url())
    assert "Folder:    Trash" in out and "deleted" in out and "still the newest one issued" in out


def test_newest_per_username_across_folders(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = box.cli(capsys, "find", box.url(), "--per-username", "--json")
    got = {d["username"]: (d["token"], d["folder"]) for d in json.loads(out)}
    assert code == 0
    assert got == {
        "dana@example.com": (box.tokens["trash"], "Trash"),
        "ops@example.com": (box.tokens["deleted"], "Archive/2026"),
        "dana@example.com.uat": (box.tokens["uat"], NON_ASCII),
    }


def test_all_lists_every_folder_and_no_spoof(box: Box) -> None:
    found = find_tokens(box.url(), ca_file=box.server.ca_file)
    assert [f.token for f in found] == [
        box.tokens[k] for k in ("trash", "deleted", "uat", "arch", "sf", "inbox_ops", "inbox")
    ]
    assert [f.folder for f in found][:3] == ["Trash", "Archive/2026", NON_ASCII]


# ---------------------------------------------------------------- restricting


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--folder", "INBOX"), "inbox"),
        (("--folder", "Salesforce"), "sf"),
        (("--folder", "INBOX", "--folder", "salesforce"), "sf"),  # case-insensitive match
        (("--exclude-folder", "Trash"), "sf"),
        (("--exclude-folder", "Trash", "--exclude-folder", "Salesforce"), "inbox"),
    ],
)
def test_folder_options_restrict(
    box: Box, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    code, out, _ = box.cli(capsys, "find", box.url(), "-u", "dana@example.com", "-q", *args)
    assert (code, out) == (0, box.tokens[expected] + "\n")


def test_url_folder_restricts_and_folder_option_replaces_it(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = box.cli(capsys, "find", box.url("INBOX"), "-u", "dana@example.com", "--json")
    assert (code, json.loads(out)["token"], json.loads(out)["folder"]) == (
        0,
        box.tokens["inbox"],
        "INBOX",
    )
    code, out, _ = box.cli(capsys, "find", box.url("INBOX"), "-q", "--folder", "Trash")
    assert (code, out) == (0, box.tokens["trash"] + "\n")
    found = find_token(box.url(), ca_file=box.server.ca_file, folders=["Archive/2026"])
    assert (found.token, found.folder) == (box.tokens["deleted"], "Archive/2026")


@pytest.mark.parametrize("how", ["url", "option", "exclude"])
def test_missing_folder_is_exit_2_listing_the_folders(
    box: Box, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    args = {
        "url": ("find", box.url("Nope")),
        "option": ("find", box.url(), "--folder", "Nope"),
        "exclude": ("find", box.url(), "--exclude-folder", "Nope"),
    }[how]
    code, out, err = box.cli(capsys, *args)
    assert (code, out) == (2, "")
    assert "folder 'Nope' does not exist" in err
    assert "'INBOX'" in err and "'Archive/2026'" in err and repr(NON_ASCII) in err
    with pytest.raises(FolderNotFoundError):
        find_token(box.url(), ca_file=box.server.ca_file, folders=["Nope"])


def test_special_use_marks_trash_whatever_its_name(
    imap: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = imap.new_user("su")
    monkeypatch.setenv(PASSWORD_ENV, password)
    token = new_token()
    imap.append_many(user, [(_crlf(token_mail(token, when=T0)), T0)], folder="Papierkorb")
    found = find_token(imap.url(user), ca_file=imap.ca_file)
    assert (found.token, found.folder, found.folder_role) == (token, "Papierkorb", "trash")


def test_copies_in_two_folders_are_listed_once(
    imap: DovecotServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user, password = imap.new_user("copy")
    monkeypatch.setenv(PASSWORD_ENV, password)
    token = new_token()
    raw = _crlf(token_mail(token, when=T0))
    imap.append_many(user, [(raw, T0)])
    imap.append_many(user, [(raw, T0)], folder="Archive")
    box = Box(imap, user, {})
    code, out, _ = box.cli(capsys, "find", box.url(), "--all", "--json")
    (only,) = json.loads(out)
    assert (code, only["token"], only["folder"], only["also_in"]) == (
        0,
        token,
        "INBOX",
        ["Archive"],
    )
    code, out, _ = box.cli(capsys, "find", box.url(), "--all")
    assert "Also in:   Archive" in out


# ---------------------------------------------------------------- cost


def test_many_folders_read_headers_of_the_newest_folder_only(
    imap: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = imap.new_user("many")
    monkeypatch.setenv(PASSWORD_ENV, password)
    token = new_token()
    for i in range(12):
        olds = [
            (
                _crlf(token_mail(new_token(), when=T0 - timedelta(days=i + 1, minutes=m))),
                T0 - timedelta(days=i + 1, minutes=m),
            )
            for m in range(30)
        ]
        imap.bulk_load(user, olds, folder=f"Old {i:02d}")
    imap.append_many(user, [(_crlf(token_mail(token, when=T0)), T0)], folder="Newest")
    before = len(imap.wait_logouts(user, 1))
    with open_provider(imap.url(user), SourceOptions(ca_file=imap.ca_file)) as provider:
        assert find_token(provider).token == token
    counters = imap.wait_logouts(user, before + 1)[-1]
    # 12 folders x 30 older token mails: only the newest folder's header batch is read.
    assert counters["hdr_count"] <= 1 and counters["body_count"] == 1


# ---------------------------------------------------------------- servers without SORT etc.


def test_fallback_without_sort_list_status_or_special_use(
    plain_imap: DovecotServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    box = fill(plain_imap, monkeypatch)
    with plain_imap.client(box.user) as c:
        caps = set(c.capabilities())
    assert not caps & {b"SORT", b"LIST-STATUS", b"SPECIAL-USE"}
    code, out, _ = box.cli(capsys, "find", box.url(), "--per-username", "--json")
    got = {d["username"]: (d["token"], d["folder"], d["folder_role"]) for d in json.loads(out)}
    assert code == 0
    assert got == {
        "dana@example.com": (box.tokens["trash"], "Trash", "trash"),  # role from the name
        "ops@example.com": (box.tokens["deleted"], "Archive/2026", None),
        "dana@example.com.uat": (box.tokens["uat"], NON_ASCII, None),
    }


# ---------------------------------------------------------------- Gmail's IMAP (X-GM-EXT-1)

GMAIL_LIST = [
    (r"(\HasNoChildren)", "INBOX"),
    (r"(\HasChildren \Noselect)", "[Gmail]"),
    (r"(\All \HasNoChildren)", "[Gmail]/All Mail"),
    (r"(\HasNoChildren \Trash)", "[Gmail]/Trash"),
    (r"(\HasNoChildren \Junk)", "[Gmail]/Spam"),
    (r"(\HasNoChildren)", "Salesforce"),
]


class FakeGimap:
    """Just enough of Gmail's IMAP for whole-mailbox lookups: LIST with special-use
    attributes, EXAMINE, UID SEARCH X-GM-RAW and UID FETCH per folder. Every command is kept."""

    def __init__(self, folders: dict[str, dict[int, tuple[bytes, datetime]]]) -> None:
        import socket
        import ssl
        import threading

        self.folders = folders
        self.commands: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self, cert: Path, key: Path) -> FakeGimap:
        self._ssl.load_cert_chain(cert, key)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        import contextlib

        while not self._done.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            with contextlib.suppress(OSError), self._ssl.wrap_socket(conn, server_side=True) as tls:
                self._session(tls)

    def _session(self, conn: Any) -> None:
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 X-GM-EXT-1 AUTH=PLAIN] Gimap ready\r\n")
        selected: str | None = None
        for line in conn.makefile("rb"):
            tag, _, rest = line.decode().strip().partition(" ")
            self.commands.append(rest)
            verb = rest.split(" ")[0].upper()
            out = b""
            if verb == "CAPABILITY":
                out = b"* CAPABILITY IMAP4rev1 X-GM-EXT-1 AUTH=PLAIN\r\n"
            elif verb == "LIST":
                out = b"".join(f'* LIST {f} "/" "{n}"\r\n'.encode() for f, n in GMAIL_LIST)
            elif verb == "EXAMINE":
                selected = rest.split(" ", 1)[1].strip('"')
                box = self.folders.get(selected, {})
                validity = (
                    100 + sorted(self.folders).index(selected) if selected in self.folders else 1
                )
                out = f"* {len(box)} EXISTS\r\n* OK [UIDVALIDITY {validity}] ok\r\n".encode()
            elif verb == "LOGOUT":
                conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return
            elif rest.startswith("UID SEARCH"):
                uids = " ".join(str(u) for u in self.folders.get(selected or "", {}))
                out = f"* SEARCH {uids}\r\n".encode()
            elif rest.startswith("UID FETCH"):
                out = self._fetch(rest, self.folders.get(selected or "", {}))
            conn.sendall(out + f"{tag} OK done\r\n".encode())

    @staticmethod
    def _fetch(rest: str, box: dict[int, tuple[bytes, datetime]]) -> bytes:
        out = b""
        for uid in (int(u) for u in rest.split(" ")[2].split(",")):
            raw, when = box[uid]
            date = when.strftime("%d-%b-%Y %H:%M:%S +0000")
            if "BODY.PEEK[]" in rest:
                key, data = "BODY[]", raw
            elif "BODY.PEEK[HEADER]" in rest:
                key, data = (
                    f'INTERNALDATE "{date}" BODY[HEADER]',
                    raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n",
                )
            else:
                out += f'* {uid} FETCH (UID {uid} INTERNALDATE "{date}")\r\n'.encode()
                continue
            out += f"* {uid} FETCH (UID {uid} {key} {{{len(data)}}}\r\n".encode() + data + b")\r\n"
        return out


@pytest.fixture
def gimap(
    imap: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeGimap, dict[str, str]]]:
    monkeypatch.setenv(PASSWORD_ENV, "gmail-pw")
    t = {k: new_token() for k in ("inbox", "sf", "trash")}
    folders = {
        "[Gmail]/All Mail": {
            5: (
                _crlf(token_mail(t["inbox"], when=T0 - 3 * timedelta(days=1))),
                T0 - timedelta(days=3),
            ),
            9: (_crlf(token_mail(t["sf"], when=T0 - timedelta(days=2))), T0 - timedelta(days=2)),
        },
        "[Gmail]/Trash": {
            3: (_crlf(token_mail(t["trash"], when=T0 - timedelta(days=1))), T0 - timedelta(days=1))
        },
        "[Gmail]/Spam": {4: (_crlf(spoof(T0)), T0)},
        "INBOX": {
            1: (_crlf(token_mail(t["inbox"], when=T0 - timedelta(days=3))), T0 - timedelta(days=3))
        },
        "Salesforce": {
            2: (_crlf(token_mail(t["sf"], when=T0 - timedelta(days=2))), T0 - timedelta(days=2))
        },
    }
    fake = FakeGimap(folders).start(imap.base / "cert.pem", imap.base / "key.pem")
    try:
        yield fake, t
    finally:
        fake.stop()


def test_gmail_imap_searches_all_mail_trash_and_spam_not_every_label(
    imap: DovecotServer, gimap: tuple[FakeGimap, dict[str, str]]
) -> None:
    fake, t = gimap
    url = f"imaps://dana%40gmail.example@127.0.0.1:{fake.port}"
    found = find_tokens(url, ca_file=imap.ca_file)
    assert [(f.token, f.folder) for f in found] == [
        (t["trash"], "[Gmail]/Trash"),
        (t["sf"], "[Gmail]/All Mail"),
        (t["inbox"], "[Gmail]/All Mail"),
    ]
    assert found[0].folder_role == "trash"
    examined = sorted({c.split(" ", 1)[1] for c in fake.commands if c.startswith("EXAMINE")})
    assert examined == ['"[Gmail]/All Mail"', '"[Gmail]/Spam"', '"[Gmail]/Trash"']
    raw = [c for c in fake.commands if "X-GM-RAW" in c]
    assert sum("in:anywhere" in c for c in raw) == 2 and len(raw) == 3  # Trash and Spam
    assert not any("STORE" in c or c.startswith("SELECT") for c in fake.commands)


def test_gmail_imap_folder_restriction_and_label_exclusion(
    imap: DovecotServer, gimap: tuple[FakeGimap, dict[str, str]]
) -> None:
    fake, t = gimap
    url = f"imaps://dana%40gmail.example@127.0.0.1:{fake.port}"
    found = find_token(url, ca_file=imap.ca_file, folders=["Salesforce"])
    assert (found.token, found.folder) == (t["sf"], "Salesforce")
    found = find_token(url, ca_file=imap.ca_file, exclude_folders=["[Gmail]/Trash"])
    assert found.token == t["sf"]
    with pytest.raises(ConfigError, match="excluding that label would not exclude it"):
        find_token(url, ca_file=imap.ca_file, exclude_folders=["Salesforce"])


def test_a_folder_created_after_an_earlier_search_is_searched_by_the_same_provider(
    imap: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = imap.new_user("late")
    monkeypatch.setenv(PASSWORD_ENV, password)
    first, later = new_token(), new_token()
    imap.append_many(
        user, [(_crlf(token_mail(first, when=T0 - timedelta(days=1))), T0 - timedelta(days=1))]
    )
    with open_provider(imap.url(user), SourceOptions(ca_file=imap.ca_file)) as provider:
        assert find_token(provider).token == first
        imap.append_many(user, [(_crlf(token_mail(later, when=T0)), T0)], folder="Late")
        assert find_token(provider).token == later  # listed again, not a stale LIST


def test_a_folder_deleted_between_list_and_examine_is_skipped(
    imap: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = imap.new_user("gone")
    monkeypatch.setenv(PASSWORD_ENV, password)
    token = new_token()
    imap.append_many(user, [(_crlf(token_mail(token, when=T0)), T0)])
    imap.append_many(user, [(_crlf(token_mail(new_token(), when=T0)), T0)], folder="Doomed")
    with open_provider(imap.url(user), SourceOptions(ca_file=imap.ca_file)) as provider:
        provider.listing()  # type: ignore[attr-defined]
        provider._keep_listing = True  # type: ignore[attr-defined]  # search with this LIST
        imap.delete_folder(user, "Doomed")  # another client deletes it meanwhile
        assert find_token(provider).token == token
