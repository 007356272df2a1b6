"""thunderbird: runs the shared contracts on real profile trees, and its own cases: profiles.ini
on every platform, prefs.js accounts and store kinds, folder names, the expunged flag."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from corpus_util import GoldenCorpus
from desktop_homes import (
    MAILDIR,
    MBOX,
    Home,
    day,
    maildir_file,
    prefs_js,
    tb_entry,
    thunderbird_home,
    write,
)
from inbox_finder.providers.thunderbird.discover import thunderbird_stores
from inbox_finder.providers.thunderbird.profiles import accounts, find_profiles
from inbox_finder.providers.thunderbird.provider import expunged

from inbox_finder import ConfigError, find_token, find_tokens
from inbox_finder.boundary.discovery import Places
from inbox_finder.boundary.provider import Provider, Query
from inbox_finder.boundary.registry import open_provider
from inbox_finder.errors import FolderNotFoundError
from inbox_finder.testing import (
    ContractMailbox,
    MailboxFactory,
    Message,
    ProviderContract,
    ScanContract,
)
from inbox_finder.testing.mail import token_mail

_serial = itertools.count()
# Where the contract's messages go, in turn: three mbox folders of two accounts and a
# Maildir-store account, so every lookup merges across folders, accounts and store kinds.
_FOLDERS = (
    ("mbox", "Mail/Local Folders/Inbox"),
    ("mbox", "Mail/Local Folders/Salesforce.sbd/Tokens"),
    ("mbox", "ImapMail/imap.example.com/INBOX"),
    ("maildir", "Mail/pop.example.com/Inbox.sbd/Archive"),
)


class ThunderbirdMailbox(ContractMailbox):
    """A Thunderbird profile with four account folders, opened by its thunderbird: URL."""

    def __init__(self, profile: Path, messages: Sequence[Message]) -> None:
        self.profile = profile
        self._write(messages)

    def _write(self, messages: Sequence[Message]) -> None:
        # A new profile written beside the old one, then swapped in (like a restore from a
        # backup): its files are new inodes, never the old ones reused.
        final, self.profile = self.profile, self.profile.with_name(self.profile.name + ".new")
        try:
            self._fill(messages)
        finally:
            self.profile = final
        if final.exists():
            final.rename(final.with_name(final.name + ".old"))
        final.with_name(final.name + ".new").rename(final)
        shutil.rmtree(final.with_name(final.name + ".old"), ignore_errors=True)

    def _fill(self, messages: Sequence[Message]) -> None:
        servers = {
            "server1": {"directory-rel": "[ProfD]Mail/Local Folders", "type": "none"},
            "server2": {"directory-rel": "[ProfD]ImapMail/imap.example.com", "type": "imap"},
            "server3": {
                "directory-rel": "[ProfD]Mail/pop.example.com",
                "type": "pop3",
                "storeContractID": MAILDIR,
            },
        }
        for server, name in zip(servers, ("Local Folders", "dana@example.com", "pop"), strict=True):
            servers[server]["name"] = name
        write(self.profile / "prefs.js", prefs_js(servers))
        for kind, folder in _FOLDERS:
            if kind == "mbox":
                write(self.profile / folder, b"")
                write(self.profile / (folder + ".msf"), b'// <!-- <mdb:mork:z v="1.4"/> -->\n')
            else:
                for sub in ("cur", "new", "tmp"):
                    (self.profile / folder / sub).mkdir(parents=True, exist_ok=True)
        for message in messages:
            self.add(message)

    @property
    def url(self) -> str:
        return f"thunderbird:{self.profile}"

    def open(self) -> Provider:
        return open_provider(self.url)

    def source(self) -> str:
        return self.url

    def add(self, message: Message) -> None:
        n = next(_serial)
        kind, folder = _FOLDERS[n % len(_FOLDERS)]
        if kind == "maildir":
            maildir_file(self.profile / folder, message.raw, message.received, n)
            return
        with (self.profile / folder).open("ab") as fh:
            fh.write(tb_entry(message.raw, message.received, status=None))

    def recreate(self, messages: Sequence[Message]) -> None:
        self._write(messages)


class ThunderbirdFixtures:
    supports_cursor = True
    supports_recreate = True

    @pytest.fixture
    def make_mailbox(self, tmp_path: Path) -> MailboxFactory:
        roots = (tmp_path / f"profile{n}.default" for n in itertools.count())
        return lambda messages: ThunderbirdMailbox(next(roots), messages)


class TestThunderbirdContract(ThunderbirdFixtures, ProviderContract):
    pass


class TestThunderbirdGoldenContract(GoldenCorpus, TestThunderbirdContract):
    pass


class TestThunderbirdScanContract(ThunderbirdFixtures, ScanContract):
    pass


@pytest.fixture
def home(tmp_path: Path) -> Home:
    built = Home(tmp_path / "home")
    thunderbird_home(built)
    return built


def test_folders_are_named_as_thunderbird_shows_them(home: Home) -> None:
    with open_provider(f"thunderbird:{home.profiles[0]}") as provider:
        names = [f.name for f in provider.folders()]  # type: ignore[attr-defined]
    # .msf summaries, filterlog.html, popstate.dat, msgFilterRules.dat and the empty Trash
    # are no folders; the feed account is skipped.
    assert names == [
        "Local Folders/Inbox",
        "Local Folders/Salesforce/Tokens",
        "dana@example.com/INBOX",
    ]


def test_expunged_mail_still_counts_and_is_marked_deleted(home: Home) -> None:
    url = f"thunderbird:{home.profiles[0]}"
    found = find_token(url, username="dana@example.com")
    assert found.token == home.tokens["tb_expunged"]
    assert (found.folder, found.folder_role) == ("Local Folders/Salesforce/Tokens", "deleted")
    assert found.to_dict()["folder_role"] == "deleted"
    older = find_tokens(url, username="dana@example.com")[1]
    assert (older.token, older.folder, older.folder_role) == (
        home.tokens["tb_old"],
        "Local Folders/Inbox",
        None,
    )


@pytest.mark.parametrize(
    ("status", "status2", "deleted"),
    [
        ("0009", "00000000", True),  # read + expunged
        ("0008", None, True),
        ("8", None, True),
        ("0001", "00000000", False),
        ("0000", None, False),
        (None, None, False),
        ("0001", "00200000", True),  # IMAP: flagged deleted on the server
        ("0001", "00010000", False),  # MDN report needed
        ("0080", "00000008", False),  # offline; 0x8 in Status2 is not the expunged flag
    ],
)
def test_expunged_flag(status: str | None, status2: str | None, deleted: bool) -> None:
    head = b""
    if status is not None:
        head += f"X-Mozilla-Status: {status}\n".encode()
    if status2 is not None:
        head += f"X-Mozilla-Status2: {status2}\n".encode()
    assert expunged(head + b"From: a@b\n") is deleted


def test_every_profile_is_one_source_with_profile_names(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home.root))
    found = {f.username: f for f in find_tokens("thunderbird:", per_username=True)}
    assert found["dana@example.com.uat"].folder == "work/dana@work.example.com/Inbox/Salesforce"
    assert found["dana@example.com.uat"].token == home.tokens["tb_maildir_uat"]
    assert found["dana@example.com"].folder == "default-release/Local Folders/Salesforce/Tokens"
    assert found["ops@example.com"].source == "thunderbird:"


def test_folder_option_uses_the_shown_names(home: Home) -> None:
    url = f"thunderbird:{home.profiles[0]}"
    only = find_tokens(url, folders=["Local Folders/Inbox"])
    assert [f.token for f in only] == [home.tokens["tb_old"]]
    skip = find_tokens(url, exclude_folders=["Local Folders/Salesforce/Tokens"])
    assert [f.token for f in skip] == [home.tokens["tb_ops"], home.tokens["tb_old"]]
    with pytest.raises(FolderNotFoundError, match="'Local Folders/Inbox'"):
        find_tokens(url, folders=["Nope"])


def test_lookup_leaves_the_profile_untouched(home: Home) -> None:
    def digest() -> dict[str, tuple[str, int]]:
        return {
            str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(home.root.rglob("*"))
            if p.is_file()
        }

    before = digest()
    find_tokens(f"thunderbird:{home.profiles[0]}")
    find_tokens(f"thunderbird:{home.profiles[1]}")
    assert digest() == before


def _platform_home(tmp_path: Path, base: Path, profile_rel: str) -> Path:
    """A profiles.ini in ``base`` naming one profile with an mbox Inbox holding a token."""
    write(
        base / "profiles.ini",
        f"[Profile0]\nName=p\nIsRelative=1\nPath={profile_rel}\nDefault=1\n".encode(),
    )
    profile = base.joinpath(*profile_rel.split("/"))
    write(
        profile / "prefs.js", prefs_js({"server1": {"directory-rel": "[ProfD]Mail/Local Folders"}})
    )
    write(
        profile / "Mail" / "Local Folders" / "Inbox",
        tb_entry(token_mail("Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Q", when=day(3)), day(3)),
    )
    return profile


@pytest.mark.parametrize(
    ("platform", "where", "env"),
    [
        ("linux", ".thunderbird", {}),
        ("linux", ".var/app/org.mozilla.Thunderbird/.thunderbird", {}),
        ("linux", "snap/thunderbird/common/.thunderbird", {}),
        ("freebsd14", ".thunderbird", {}),
        ("darwin", "Library/Thunderbird", {}),
        ("win32", "Roaming/Thunderbird", {"APPDATA": "Roaming"}),
        ("win32", "AppData/Roaming/Thunderbird", {}),
    ],
)
def test_profiles_are_found_on_every_platform(
    tmp_path: Path, platform: str, where: str, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    rel = "Profiles/x1y2.default" if platform in ("darwin", "win32") else "x1y2.default"
    profile = _platform_home(tmp_path, home / where, rel)
    env = {k: str(home / v) for k, v in env.items()}
    places = Places(home, env, platform)
    stores = list(thunderbird_stores(places))
    assert [(s.url, s.client, s.path) for s in stores] == [
        (f"thunderbird:{profile}", "Thunderbird", profile)
    ]
    assert stores[0].size_unit == "bytes" and stores[0].size
    # The other platforms' directories are not looked at.
    family = {"linux": "unix", "freebsd14": "unix", "darwin": "mac", "win32": "windows"}
    others = [p for p in ("linux", "darwin", "win32") if family[p] != family[platform]]
    assert others and all(not find_profiles(Places(home, env, other)) for other in others)


def test_profiles_ini_default_first_and_bad_entries_skipped(tmp_path: Path) -> None:
    base = tmp_path / ".thunderbird"
    outside = tmp_path / "outside"
    outside.mkdir()
    (base / "linked").parent.mkdir(parents=True)
    (base / "linked").symlink_to(outside)
    (base / "b.second").mkdir()
    (base / "a.first").mkdir()
    write(
        base / "profiles.ini",
        b"[Profile0]\nName=first\nIsRelative=1\nPath=a.first\n\n"
        b"[Profile1]\nName=second\nIsRelative=1\nPath=b.second\nDefault=1\n\n"
        b"[Profile2]\nName=gone\nIsRelative=1\nPath=c.gone\n\n"
        b"[Profile3]\nName=link\nIsRelative=1\nPath=linked\n\n"
        b"[Profile4]\nName=nopath\n",
    )
    found = find_profiles(Places(tmp_path, {}, "linux"))
    assert [(p.name, p.default) for p in found] == [("second", True), ("first", False)]


def test_prefs_store_kinds_and_fallbacks(tmp_path: Path) -> None:
    profile = tmp_path / "p"
    for rel in ("Mail/Local Folders", "Mail/pop.x", "Mail/abs", "ImapMail/imap.x", "Mail/Feeds"):
        (profile / rel).mkdir(parents=True)
    default_maildir = 'user_pref("mail.serverDefaultStoreContractID", "' + MAILDIR + '");\n'
    servers = {
        "server1": {"directory-rel": "[ProfD]Mail/Local Folders", "name": "Local Folders"},
        "server2": {"directory-rel": "[ProfD]Mail/pop.x", "storeContractID": MBOX},
        "server3": {"directory": str(profile / "Mail" / "abs"), "name": "Local Folders"},
        "server10": {"directory-rel": "[ProfD]ImapMail/imap.x", "name": "a/b"},
        "server4": {"directory-rel": "[ProfD]Mail/Feeds", "type": "rss"},
        "server5": {"directory-rel": "[ProfD]Mail/missing"},
        "server6": {"directory-rel": "[ProfD]../../etc"},
    }
    write(profile / "prefs.js", prefs_js(servers, default_maildir))
    got = [(a.name, a.path.relative_to(profile).as_posix(), a.kind) for a in accounts(profile)]
    assert got == [
        ("Local Folders", "Mail/Local Folders", "maildir"),  # the profile's default store kind
        ("pop.x", "Mail/pop.x", "mbox"),  # no name: the directory's
        ("Local Folders (abs)", "Mail/abs", "maildir"),  # a second "Local Folders"
        ("a_b", "ImapMail/imap.x", "maildir"),  # "/" would split the folder name
    ]
    (profile / "prefs.js").unlink()
    fallback = [(a.name, a.kind) for a in accounts(profile)]
    assert fallback == [
        ("Feeds", "mbox"),
        ("Local Folders", "mbox"),
        ("abs", "mbox"),
        ("pop.x", "mbox"),
        ("imap.x", "mbox"),
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("thunderbird:/nonexistent/profile", "Thunderbird profile not found"),
        ("thunderbird:", "no Thunderbird profile found"),
    ],
)
def test_bad_thunderbird_sources_are_config_errors(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        open_provider(url)


def test_profile_without_mail_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "p" / "prefs.js", prefs_js({}))
    with pytest.raises(ConfigError, match="no mail folders in"):
        open_provider(f"thunderbird:{tmp_path / 'p'}")


def test_search_after_a_cursor_reads_only_changed_accounts(home: Home) -> None:
    url = f"thunderbird:{home.profiles[0]}"
    with open_provider(url) as provider:
        cursor = provider.sync_cursor()
    inbox = home.profiles[0] / "Mail" / "Local Folders" / "Inbox"
    when = datetime(2026, 11, 29, tzinfo=UTC)
    with inbox.open("ab") as fh:
        fh.write(tb_entry(token_mail("Nn1Mm2Ll3Kk4Jj5Hh6Gg7Ff8D", when=when), when))
    with open_provider(url) as provider:
        assert provider.sync_cursor() != cursor
        new = list(provider.search(Query(after_cursor=cursor)))
    assert [c.folder for c in new] == ["Local Folders/Inbox"]
    assert new[0].received == when


def test_a_profile_without_messages_is_not_listed(tmp_path: Path) -> None:
    base = tmp_path / ".thunderbird"
    write(base / "profiles.ini", b"[Profile0]\nName=p\nIsRelative=1\nPath=p.default\n")
    local = base / "p.default" / "Mail" / "Local Folders"
    write(local / "Inbox", b"")  # a folder never used
    write(local / "Inbox.msf", b'// <!-- <mdb:mork:z v="1.4"/> -->\n' * 50)
    write(local / "Unsent Messages.bak", b"not an mbox")
    places = Places(tmp_path, {}, "linux")
    assert list(thunderbird_stores(places)) == []
    write(local / "Inbox", tb_entry(token_mail("Qq1Ww2Ee3Rr4Tt5Yy6Uu7Ii8O", when=day(2)), day(2)))
    [store] = thunderbird_stores(places)
    assert store.size == (local / "Inbox").stat().st_size
