"""Where Thunderbird keeps its profiles and, in each, the accounts' mail stores.

Profiles are listed in ``profiles.ini`` (``[ProfileN]`` sections: ``Path``, ``IsRelative``,
``Default``) in the platform's Thunderbird directory: ``~/.thunderbird`` (also the Flatpak
``~/.var/app/org.mozilla.Thunderbird/.thunderbird`` and the Snap
``~/snap/thunderbird/common/.thunderbird``) on Linux and other Unixes,
``~/Library/Thunderbird`` on macOS, ``%APPDATA%\\Thunderbird`` on Windows.

A profile's ``prefs.js`` names each account's server (``mail.server.serverN.*``): its
directory (``directory-rel``, ``[ProfD]`` meaning the profile, else ``directory``), display
``name``, ``type`` and message store (``storeContractID``: ``berkeleystore`` = one mbox file per
folder with ``.sbd`` subfolder directories, ``maildirstore`` = a directory per folder). Local
Folders and POP accounts live under ``Mail/``, offline copies of IMAP folders under
``ImapMail/``. Only small configuration files are read; nothing is written.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Literal

from inbox_finder.boundary.discovery import Places, entries, inside, read_small

StoreKind = Literal["mbox", "maildir"]
MAILDIR_STORE = "@mozilla.org/msgstore/maildirstore;1"
# Server types whose folders never hold a token mail: news groups, feeds, chat.
NOT_MAIL = frozenset({"nntp", "rss", "im"})
_PREF = re.compile(r'^\s*user_pref\(\s*("(?:[^"\\]|\\.)*")\s*,\s*(.*?)\s*\)\s*;\s*$', re.M)
_SERVER = re.compile(r"^mail\.server\.([A-Za-z0-9_]+)\.(.+)$")


@dataclass(frozen=True)
class Profile:
    """One Thunderbird profile directory and its name in profiles.ini."""

    name: str
    path: Path
    default: bool = False


@dataclass(frozen=True)
class Account:
    """One account's message store inside a profile."""

    name: str
    path: Path
    kind: StoreKind


def profile_roots(places: Places) -> list[Path]:
    """The directories that may hold a ``profiles.ini`` on this platform."""
    home = places.home
    if places.platform.startswith("win"):
        appdata = places.env.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return [base / "Thunderbird"]
    if places.platform == "darwin":
        return [home / "Library" / "Thunderbird"]
    return [
        home / ".thunderbird",
        home / ".var" / "app" / "org.mozilla.Thunderbird" / ".thunderbird",
        home / "snap" / "thunderbird" / "common" / ".thunderbird",
    ]


def _profile_path(root: Path, value: str, relative: bool) -> Path:
    if relative:
        # Written with "/" on every platform; older Windows versions used "\".
        return root.joinpath(*re.split(r"[\\/]+", value.strip("\\/")))
    if re.match(r"^[A-Za-z]:[\\/]", value):
        return Path(*PureWindowsPath(value).parts)
    return Path(value)


def read_profiles(root: Path) -> list[Profile]:
    """The profiles ``root/profiles.ini`` lists that exist (the default one first)."""
    raw = read_small(root / "profiles.ini", root)
    if raw is None:
        return []
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(raw.decode("utf-8", "replace"))
    except configparser.Error:
        return []
    found: list[Profile] = []
    for section in parser.sections():
        if not section.lower().startswith("profile") or not parser.has_option(section, "path"):
            continue
        relative = parser.get(section, "isrelative", fallback="1").strip() != "0"
        path = _profile_path(root, parser.get(section, "path"), relative)
        if relative and not inside(path, root):
            continue  # a relative profile that a symlink leads out of the directory
        if path.is_dir():
            name = parser.get(section, "name", fallback=path.name)
            found.append(Profile(name, path, parser.get(section, "default", fallback="") == "1"))
    return sorted(found, key=lambda p: not p.default)


def find_profiles(places: Places) -> list[Profile]:
    """Every profile of every Thunderbird directory of this platform, each path once."""
    seen: set[str] = set()
    profiles: list[Profile] = []
    for root in profile_roots(places):
        for profile in read_profiles(root):
            key = os.path.normcase(os.path.realpath(profile.path))
            if key not in seen:
                seen.add(key)
                profiles.append(profile)
    return profiles


def read_prefs(profile: Path) -> dict[str, object]:
    """The ``user_pref`` values of ``prefs.js`` (strings, numbers, booleans)."""
    raw = read_small(profile / "prefs.js", profile)
    prefs: dict[str, object] = {}
    if raw is None:
        return prefs
    for m in _PREF.finditer(raw.decode("utf-8", "replace")):
        try:
            prefs[json.loads(m.group(1))] = json.loads(m.group(2))
        except ValueError:
            continue  # a value JSON cannot read is no pref we use
    return prefs


def _servers(prefs: dict[str, object]) -> dict[str, dict[str, object]]:
    servers: dict[str, dict[str, object]] = {}
    for key, value in prefs.items():
        m = _SERVER.match(key)
        if m:
            servers.setdefault(m.group(1), {})[m.group(2)] = value
    return servers


def _directory(profile: Path, server: dict[str, object]) -> Path | None:
    rel = server.get("directory-rel")
    if isinstance(rel, str) and rel.startswith("[ProfD]"):
        path = _profile_path(profile, rel[len("[ProfD]") :], relative=True)
        return path if inside(path, profile) else None  # a symlink out of the profile
    absolute = server.get("directory")
    return _profile_path(profile, absolute, relative=False) if isinstance(absolute, str) else None


def _unique(name: str, path: Path, taken: set[str]) -> str:
    shown = name.strip().replace("/", "_") or path.name
    if shown in taken:
        shown = f"{shown} ({path.name})"
    taken.add(shown)
    return shown


def accounts(profile: Path) -> list[Account]:
    """The mail stores of a profile, from prefs.js; else every directory of Mail/, ImapMail/."""
    prefs = read_prefs(profile)
    default_store = prefs.get("mail.serverDefaultStoreContractID")
    found: list[Account] = []
    taken: set[str] = set()
    seen: set[str] = set()
    servers = _servers(prefs)
    for _, server in sorted(servers.items(), key=lambda kv: (len(kv[0]), kv[0])):
        path = _directory(profile, server)
        if path is None or str(server.get("type", "")) in NOT_MAIL or not path.is_dir():
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        store = server.get("storeContractID", default_store)
        kind: StoreKind = "maildir" if store == MAILDIR_STORE else "mbox"
        found.append(Account(_unique(str(server.get("name", "")), path, taken), path, kind))
    if servers:
        return found
    for top in ("Mail", "ImapMail"):
        for entry in entries(profile / top, profile):
            if entry.kind == "dir":
                found.append(Account(_unique(entry.name, entry.path, taken), entry.path, "mbox"))
    return found
