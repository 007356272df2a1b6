"""``evolution:`` runs the shared contracts on Evolution's offline cache, plus its own cases:
downloads in progress and state files are not mail, symlinks out and FIFOs are not opened,
folders are named as Evolution shows them, discovery and ``find`` with no SOURCE."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from corpus_util import GoldenCorpus
from desktop_stores import StoreFixtures, set_time, tree_state
from evolution_cache import (
    EWS_UID,
    IMAP_UID,
    EvolutionMailbox,
    account_dir,
    cache_file,
    folder_dir,
)
from inbox_finder.providers.evolution.discover import discover_evolution_cache
from test_find_local import isolate, run

from inbox_finder import ConfigError, find_token, find_tokens
from inbox_finder.boundary.discovery import DISCOVERERS, Places, discover
from inbox_finder.boundary.provider import Query
from inbox_finder.boundary.registry import open_provider
from inbox_finder.testing import ProviderContract, ScanContract
from inbox_finder.testing.mail import other_mail, token_mail

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OLDER, NEWER, PARTIAL, ATOMIC, OFFLINE, OUTSIDE = (
    "EvoOlderT0kenAaaaaaaaaaa1",
    "EvoNewerT0kenBbbbbbbbbbb2",
    "EvoPartialT0kenCcccccccc3",
    "EvoAtomicT0kenDddddddddd4",
    "EvoOfflineT0kenEeeeeeeee5",
    "EvoOutsideT0kenFffffffff6",
)


class EvolutionFixtures(StoreFixtures):
    mailbox_class = EvolutionMailbox


class TestEvolutionContract(EvolutionFixtures, ProviderContract):
    pass


class TestEvolutionGoldenContract(GoldenCorpus, TestEvolutionContract):
    pass


class TestEvolutionScanContract(EvolutionFixtures, ScanContract):
    pass


def _put(path: Path, raw: bytes, when: datetime) -> Path:
    path.write_bytes(raw)
    set_time(path, when)
    return path


def evolution_cache(home: Path) -> Path:
    """Two accounts; newer tokens only in files that are not (yet) cached messages."""
    cache = home / ".cache" / "evolution" / "mail"
    imap, ews = account_dir(cache, IMAP_UID), account_dir(cache, EWS_UID)
    inbox, nested = folder_dir(imap, "INBOX"), folder_dir(imap, "INBOX/Salesforce")
    exchange = folder_dir(ews, "Inbox/Salesforce", imapx=False)
    _put(cache_file(inbox, "cur", "7"), other_mail(1, T - timedelta(days=4)), T - timedelta(4))
    _put(cache_file(nested, "cur", "12"), token_mail(NEWER, when=T - timedelta(days=1)), T)
    key = "5d41402abc4b2a76b9719d911017c592" * 2  # EWS: the SHA-256 hex of the item id
    _put(cache_file(exchange, "cur", key), token_mail(OLDER, when=T - timedelta(days=3)), T)
    # Downloads in progress: tmp/HH/UID (before 3.61.1), cur/HH/UID.XXXXXX (atomic writes).
    later = T + timedelta(hours=1)
    _put(cache_file(inbox, "tmp", "13"), token_mail(PARTIAL, when=later), later)
    _put(cache_file(inbox, "cur", "14.Ab3dE9"), token_mail(ATOMIC, when=later), later)
    _put(cache_file(inbox, "new", "tempuid-67a1b2c3-0"), token_mail(OFFLINE, when=later), later)
    _put(cache_file(inbox, "cur", "15"), b"", later)  # empty: Camel treats it as missing
    return cache


def test_partial_downloads_offline_appends_and_state_files_are_not_mail(tmp_path: Path) -> None:
    cache = evolution_cache(tmp_path)
    assert find_token(f"evolution:{cache}").token == NEWER
    found = find_tokens(f"evolution:{cache}")
    assert [(f.token, f.folder) for f in found] == [
        (NEWER, f"{IMAP_UID}/INBOX/Salesforce"),
        (OLDER, f"{EWS_UID}/Inbox/Salesforce"),
    ]


def test_search_changes_nothing_in_the_cache(tmp_path: Path) -> None:
    cache = evolution_cache(tmp_path)
    before = tree_state(cache)
    assert find_token(f"evolution:{cache}").token == NEWER
    assert len(find_tokens(f"evolution:{cache / IMAP_UID}", folders=["INBOX/Salesforce"])) == 1
    with open_provider(f"evolution:{cache}") as provider:
        provider.sync_cursor()
    list(discover_evolution_cache(Places(home=tmp_path)))
    assert tree_state(cache) == before


def test_one_account_names_folders_as_evolution_shows_them(tmp_path: Path) -> None:
    cache = evolution_cache(tmp_path)
    with open_provider(f"evolution:{cache / IMAP_UID}") as provider:
        assert [f.name for f in provider.folders()] == ["INBOX", "INBOX/Salesforce"]
    found = find_tokens(f"evolution:{cache / IMAP_UID}", folders=["INBOX/Salesforce"])
    assert [(f.token, f.folder) for f in found] == [(NEWER, "INBOX/Salesforce")]
    assert find_tokens(f"evolution:{cache / IMAP_UID}", folders=["INBOX"]) == []
    with open_provider(f"evolution:{cache / EWS_UID}") as provider:
        assert [f.name for f in provider.folders()] == ["Inbox", "Inbox/Salesforce"]


def test_a_message_added_to_a_hash_directory_moves_the_cursor(tmp_path: Path) -> None:
    cache = evolution_cache(tmp_path)
    for directory in [cache, *(p for p in cache.rglob("*") if p.is_dir())]:
        set_time(directory, T)  # settled: the cursor holds real mtimes
    with open_provider(f"evolution:{cache}") as provider:
        first = provider.sync_cursor()
        assert provider.sync_cursor() == first
        assert list(provider.search(Query(after_cursor=first))) == []
    stamps = json.loads(first.removeprefix("evolution1:"))
    assert set(stamps) == {
        f"{IMAP_UID}/folders/INBOX",
        f"{IMAP_UID}/folders/INBOX/subfolders/Salesforce",
        f"{EWS_UID}/folders/Inbox",
        f"{EWS_UID}/folders/Inbox/Salesforce",
    }
    nested = cache / IMAP_UID / "folders" / "INBOX" / "subfolders" / "Salesforce"
    # A UID in the same hash directory as UID 12: only that directory's mtime moves.
    bucket = cache_file(nested, "cur", "12").parent
    uid = next(
        str(n) for n in range(13, 5000) if cache_file(nested, "cur", str(n)).parent == bucket
    )
    cur_mtime = (nested / "cur").stat().st_mtime_ns
    _put(cache_file(nested, "cur", uid), token_mail("EvoLaterT0kenGggggggggg7", when=T), T)
    assert (nested / "cur").stat().st_mtime_ns == cur_mtime
    with open_provider(f"evolution:{cache}") as provider:
        refs = [c.ref for c in provider.search(Query(after_cursor=first))]
    # The folder is read again whole: the new message, then UID 12 beside it.
    base = f"{IMAP_UID}/folders/INBOX/subfolders/Salesforce/cur/{bucket.name}"
    assert refs == [f"{base}/{uid}", f"{base}/12"]


def test_symlinks_out_of_the_cache_and_fifos_are_not_opened(tmp_path: Path) -> None:
    cache = evolution_cache(tmp_path / "home")
    outside = tmp_path / "outside"
    outside.mkdir()
    _put(outside / "99", token_mail(OUTSIDE, when=T + timedelta(days=1)), T + timedelta(days=1))
    inbox = cache / IMAP_UID / "folders" / "INBOX"
    cache_file(inbox, "cur", "99").symlink_to(outside / "99")
    (cache / IMAP_UID / "folders" / "Linked").symlink_to(outside, target_is_directory=True)
    os.mkfifo(cache_file(inbox, "cur", "98"))  # opening it for reading would block
    assert find_token(f"evolution:{cache}").token == NEWER
    stores = list(discover_evolution_cache(Places(home=tmp_path / "home")))
    assert [(s.path.name, s.size) for s in stores] == [(IMAP_UID, 2), (EWS_UID, 1)]


def test_bad_sources_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "Documents" / "notes").mkdir(parents=True)
    with pytest.raises(ConfigError, match="not found"):
        open_provider(f"evolution:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match="must be a directory"):
        open_provider(f"evolution:{tmp_path / 'file'}")
    with pytest.raises(ConfigError, match=r"no Evolution mail cache in .*Documents"):
        open_provider(f"evolution:{tmp_path / 'Documents'}")


def test_the_scheme_alone_is_the_running_users_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evolution_cache(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    assert find_token("evolution:").token == NEWER
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="not found"):
        open_provider("evolution:")


def test_discovery_follows_xdg_cache_home(tmp_path: Path) -> None:
    evolution_cache(tmp_path / "elsewhere")
    env = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere" / ".cache")}
    places = Places(home=tmp_path / "home", env=env)
    cache = tmp_path / "elsewhere" / ".cache" / "evolution" / "mail"
    assert [(s.url, s.client, s.size, s.size_unit) for s in discover(places)] == [
        (f"evolution:{cache / IMAP_UID}", "Evolution", 2, "messages"),
        (f"evolution:{cache / EWS_UID}", "Evolution", 1, "messages"),
    ]
    assert DISCOVERERS[-1] == "inbox_finder.providers.evolution.discover:discover_evolution_cache"
    assert list(discover(Places(home=tmp_path / "home"))) == []


def test_find_with_no_source_and_sources_list_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    cache = evolution_cache(home)
    isolate(monkeypatch, home, tmp_path)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    done = run("find", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["token"] == NEWER
    listed = run("sources", "--json")
    assert listed.returncode == 0, listed.stderr
    assert f"evolution:{cache / IMAP_UID}" in listed.stdout


def test_whole_cache_folders_start_with_the_account_display_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = evolution_cache(tmp_path)
    sources = tmp_path / "config" / "evolution" / "sources"
    sources.mkdir(parents=True)
    (sources / f"{IMAP_UID}.source").write_text(
        "[Data Source]\nDisplayName=dana@example.com\nEnabled=true\nParent=\n\n"
        "[Mail Account]\nBackendName=imapx\nIdentityUid=f00d\n"
    )
    os.mkfifo(sources / f"{EWS_UID}.source")  # never opened: the uid is used
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    found = find_tokens(f"evolution:{cache}")
    assert [(f.token, f.folder) for f in found] == [
        (NEWER, "dana@example.com/INBOX/Salesforce"),
        (OLDER, f"{EWS_UID}/Inbox/Salesforce"),
    ]
    by_uid = find_tokens(f"evolution:{cache}", folders=[f"{IMAP_UID}/INBOX/Salesforce"])
    assert [f.token for f in by_uid] == [NEWER]
    with open_provider(f"evolution:{cache}") as provider:
        cursor = provider.sync_cursor()
    assert "example.com" not in cursor  # keyed by cache paths, never by a display name
