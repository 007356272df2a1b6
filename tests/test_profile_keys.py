"""Declared profile keys: unknown keys and wrong types are exit 2; providers read only declared keys.

A third-party provider, installed for real (a dist-info with an entry point on sys.path),
declares its own keys and its own login command the same way the built-ins do.
"""

from __future__ import annotations

import ast
import shlex
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus_util import build_mbox
from emulators.ms_emulators import LoopbackCA

from inbox_finder import find_token
from inbox_finder.boundary.keys import (
    COMMON_KEYS,
    KeyType,
    ProfileKey,
    ProfileValues,
    validate_profile,
)
from inbox_finder.boundary.provider import Provider, SourceOptions
from inbox_finder.boundary.registry import BUILTIN_SCHEMES, open_provider, provider_class
from inbox_finder.cli.main import main
from inbox_finder.config import Config
from inbox_finder.errors import ConfigError, NotFoundError
from inbox_finder.salesforce.credentials import salesforce_password_sources
from inbox_finder.secret_sources import describe_secret, imap_password, oauth_token

ROOT = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# ---------------------------------------------------------------- unknown keys, wrong types


def test_a_typo_in_a_profile_key_is_exit_2_with_a_suggestion(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        """
        [mailbox.work]
        url = "imaps://dana@imap.example.com"
        pasword_cmd = "pass show mail/work"
        """,
    )
    code, out, err = run(capsys, "--config", str(config), "find", "work")
    assert (code, out) == (2, "")
    assert err == (
        f"inbox-finder: error: {config}: unknown key 'pasword_cmd' in [mailbox.work]; "
        "did you mean password_cmd?\n"
    )


def test_a_key_of_another_provider_is_unknown_and_far_typos_list_the_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    box = build_mbox(tmp_path / "m.mbox")
    config = write_config(tmp_path, f'[mailbox.a]\nurl = "mbox:{box}"\nzzzz = 1\n')
    code, _, err = run(capsys, "--config", str(config), "find", "a")
    assert code == 2 and "unknown key 'zzzz' in [mailbox.a]; known keys: ca_file, " in err
    config.write_text(f'[mailbox.a]\nurl = "mbox:{box}"\nclient_id = "x"\n', encoding="utf-8")
    code, _, err = run(capsys, "--config", str(config), "find", "a")
    assert code == 2 and "unknown key 'client_id' in [mailbox.a]" in err


def test_library_profiles_get_the_same_validation(tmp_path: Path) -> None:
    box = build_mbox(tmp_path / "m.mbox")
    config = Config(profiles={"work": {"url": f"mbox:{box}", "usernme": "dana@example.com"}})
    with pytest.raises(ConfigError, match=r"'usernme' in \[mailbox.work\]; did you mean username"):
        find_token("work", config=config)
    options = SourceOptions(profile={"pasword_cmd": "x"})
    with pytest.raises(ConfigError, match="in the IMAP profile; did you mean password_cmd"):
        open_provider("imaps://dana@imap.example.com", options)
    with pytest.raises(
        ConfigError, match=r"key retries in the IMAP profile must be a whole number"
    ):
        open_provider("imaps://dana@imap.example.com", SourceOptions(profile={"retries": "2"}))


@pytest.mark.parametrize(
    ("url", "line", "message"),
    [
        ("imaps://d@h", 'timeout = "20"', "key timeout in [mailbox.w] must be a number, not str"),
        ("imaps://d@h", "retries = 1.5", "key retries in [mailbox.w] must be a whole number"),
        ("imaps://d@h", "password_cmd = 7", "key password_cmd in [mailbox.w] must be a string"),
        ("imaps://d@h", 'auth = "kerberos"', "must be 'password' or 'xoauth2', not 'kerberos'"),
        ("imaps://d@h", 'username = ""', "key username in [mailbox.w] must not be empty"),
        ("imaps://d@h", "sender_domains = 'x.com'", "must be a list of strings, not str"),
        ("imaps://d@h", "sender_domains = ['a', 3]", "must be a list of strings, not list"),
        ("gmail://me", "page_size = 7.0", "key page_size in [mailbox.w] must be a whole number"),
        ("gmail://me", "credentials = 3", "key credentials in [mailbox.w] must be a path"),
        ("outlook://me", "client_id = 123", "key client_id in [mailbox.w] must be a string"),
        ("outlook://me", 'senders = "a@b.c"', "key senders in [mailbox.w] must be a list"),
        ("outlook://me", 'page_size = "7"', "key page_size in [mailbox.w] must be a whole number"),
        ("mbox:/x", "ca_file = true", "key ca_file in [mailbox.w] must be a path"),
    ],
)
def test_a_wrong_type_is_exit_2_naming_key_and_type(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str, line: str, message: str
) -> None:
    config = write_config(tmp_path, f'[mailbox.w]\nurl = "{url}"\n{line}\n')
    code, out, err = run(capsys, "--config", str(config), "find", "w")
    assert (code, out) == (2, "")
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_values_are_typed_paths_expanded_strings_stripped() -> None:
    keys = {k.name: k for k in COMMON_KEYS}
    raw = {"url": " mbox:x ", "ca_file": "~/ca.pem", "timeout": 5, "sender_domains": [" a.com "]}
    values = validate_profile(keys, raw, "[mailbox.t]")
    assert values["url"] == "mbox:x" and values["ca_file"] == Path.home() / "ca.pem"
    assert values["timeout"] == 5.0 and isinstance(values["timeout"], float)
    assert values["sender_domains"] == ("a.com",) and values["username"] is None
    assert values["sf_password_cmd_timeout"] == 30.0 and not values.is_set("username")
    assert validate_profile(keys, values, "[mailbox.t]") is values  # validated once


def test_adding_a_key_is_one_declaration() -> None:
    class Folders(Provider):
        profile_keys = (ProfileKey("folders", KeyType.STR_LIST, (), help="folders to search"),)

    assert validate_profile(Folders.declared_keys(), {"folders": ["A"]}, "x")["folders"] == ("A",)


# ---------------------------------------------------------------- providers read declared keys


class StrictProfile(ProfileValues):
    """Validated values whose reads of an undeclared key fail the test; reads are recorded."""

    def __init__(self, values: ProfileValues) -> None:
        super().__init__(values.declared, dict(values), [k.name for k, _ in values.set_items()])
        self.reads: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        if name not in self.declared:
            raise AssertionError(f"read of undeclared profile key {name!r}")
        self.reads.add(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name]

    def __contains__(self, name: object) -> bool:
        self[str(name)]
        return True


def full_profile(scheme: str, tmp_path: Path, ca_file: Path) -> dict[str, Any]:
    """A value for every key the scheme declares (``ca_file``: a real PEM; from_url checks)."""
    ca = ca_file
    cmd = shlex.join([sys.executable, "-c", "print('secret')"])
    samples: dict[KeyType, Any] = {
        KeyType.STR: "x",
        KeyType.INT: 5,
        KeyType.FLOAT: 5.0,
        KeyType.BOOL: True,
        KeyType.STR_LIST: ["a@example.com"],
        KeyType.PATH: str(ca),
    }
    profile = {k.name: samples[k.type] for k in provider_class(scheme).declared_keys().values()}
    overrides = {
        "url": "",
        "auth": "password",
        "password_env": "INBOX_FINDER_TEST_PW",
        "oauth_token_env": "INBOX_FINDER_TEST_PW",
        "sf_password_env": "INBOX_FINDER_TEST_PW",
        "password_cmd": cmd,
        "oauth_token_cmd": cmd,
        "sf_password_cmd": cmd,
        "api_endpoint": "https://gmail.example.com",
        "graph_endpoint": "https://graph.example.com/v1.0",
        "authority": "https://login.example.com/tenant",
        "client_secret_env": "INBOX_FINDER_TEST_PW",
        "retries": 2,
    }
    return {k: overrides.get(k, v) for k, v in profile.items() if k != "url"}


URLS = {
    "imaps": ["imaps://dana@imap.example.com"],
    "gmail": ["gmail://me", "gmail://dana@example.com"],
    "outlook": ["outlook://me", "outlook://dana@example.com"],
    "mbox": ["mbox:{box}"],
    "maildir": ["maildir:{maildir}"],
    "eml": ["eml:{dir}"],
}


@pytest.mark.parametrize("scheme", sorted(URLS))
def test_every_key_a_provider_reads_is_declared(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: LoopbackCA
) -> None:
    monkeypatch.setenv("INBOX_FINDER_TEST_PW", "pw")
    monkeypatch.delenv("INBOX_FINDER_PASSWORD", raising=False)
    (tmp_path / "md" / "cur").mkdir(parents=True)
    paths = {"box": build_mbox(tmp_path / "m.mbox"), "maildir": tmp_path / "md", "dir": tmp_path}
    cls = provider_class(scheme)
    reads: set[str] = set()
    for template in URLS[scheme]:
        url = template.format(**paths)
        profile = StrictProfile(
            validate_profile(cls.declared_keys(), full_profile(scheme, tmp_path, ca.ca_file), "t")
        )
        options = SourceOptions(ca_file=None, timeout=5.0, profile=profile, profile_name="t")
        cls.from_url(url, options).close()
        cls.describe_credentials(url, profile)
        describe_secret(salesforce_password_sources("dana@example.com", profile))
        if scheme == "imaps":  # the secret chains the IMAP session runs read through it too
            assert imap_password("u", "h", profile) == "pw"
            assert oauth_token("u", "h", profile) == "pw"
        reads |= profile.reads
    assert reads, "the provider read no key at all: the strict profile was bypassed"


def profile_reads(path: Path) -> set[str]:
    """String keys read from anything named ``profile``: ``profile["k"]``, ``.get("k")``,
    ``f(profile, "k")`` (the secret source helpers)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target, key = None, None
        if isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        elif isinstance(node, ast.Call) and node.args:
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                target, key = node.func.value, node.args[0]
            elif len(node.args) >= 2 and isinstance(node.args[0], ast.Name):
                target, key = node.args[0], node.args[1]
        name = ast.unparse(target) if target is not None else ""
        if (
            name.endswith("profile")
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
        ):
            found.add(key.value)
    return found - NOT_CONFIG


# Gmail's users.getProfile answer is also called ``profile``: its fields are no config keys.
NOT_CONFIG = {"historyId"}


@pytest.mark.parametrize(
    ("folder", "scheme"),
    [("imap", "imaps"), ("gmail", "gmail"), ("outlook", "outlook"), ("local", "mbox")],
)
def test_keys_named_in_provider_code_are_declared(folder: str, scheme: str) -> None:
    declared = set(provider_class(scheme).declared_keys())
    for path in sorted((ROOT / "providers" / folder).glob("*.py")):
        assert profile_reads(path) <= declared, path.name
    if folder != "local":  # the local providers read no key of their own
        assert profile_reads(ROOT / "providers" / folder / "provider.py")


def test_keys_named_in_core_code_are_declared() -> None:
    declared = {k for s in set(BUILTIN_SCHEMES) for k in provider_class(s).declared_keys()}
    reads: set[str] = set()
    for path in sorted((ROOT / "inbox_finder").rglob("*.py")):
        reads |= profile_reads(path)
    assert {"ca_file", "timeout", "username", "password_env", "sf_password_cmd"} <= reads
    assert reads <= declared


# ---------------------------------------------------------------- a third-party provider

THIRD_PARTY = '''
from __future__ import annotations

import click

from inbox_finder.boundary.keys import KeyType, ProfileKey, Secret
from inbox_finder.boundary.provider import Provider


class MemoProvider(Provider):
    kind = "memo store"
    profile_keys = (
        ProfileKey("region", default="eu", help="where the store lives"),
        ProfileKey("depth", KeyType.INT, 3, help="how deep to look"),
        ProfileKey("api_key_env", secret=Secret.ENV, help="variable holding the API key"),
    )
    login_command = "memo_inbox:login"

    def __init__(self, url, profile):
        self.url, self.profile = url, profile

    @classmethod
    def from_url(cls, url, options):
        profile = cls.read_profile(options)
        print(f"memo region={profile['region']} depth={profile['depth']}")
        return cls(url, profile)

    def search(self, query):
        return iter(())

    def fetch(self, candidate):
        raise AssertionError("nothing to fetch")

    @property
    def source(self):
        return self.url


@click.command("memo")
@click.option("--region", required=True)
def login(region):
    """Sign in to the memo store."""
    click.echo(f"memo login in {region}", err=True)
'''


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    (site / "memo_inbox").mkdir(parents=True)
    (site / "memo_inbox" / "__init__.py").write_text(THIRD_PARTY, encoding="utf-8")
    info = site / "memo_inbox-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: memo-inbox\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[inbox_finder.providers]\nmemo = memo_inbox:MemoProvider\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield tmp_path
    sys.modules.pop("memo_inbox", None)


def test_a_third_party_provider_declares_its_own_keys(
    capsys: pytest.CaptureFixture[str], third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        third_party,
        """
        [mailbox.m]
        url = "memo://store"
        region = "us"
        username = "dana@example.com"
        api_key_env = "MEMO_KEY"
        """,
    )
    code, out, err = run(capsys, "--config", str(config), "find", "m")
    assert code == 1 and "memo region=us depth=3" in out and "no security token" in err
    with pytest.raises(NotFoundError):
        find_token("m", config=str(config))
    config.write_text('[mailbox.m]\nurl = "memo://s"\nregoin = "us"\n', encoding="utf-8")
    code, _, err = run(capsys, "--config", str(config), "find", "m")
    assert code == 2 and "unknown key 'regoin' in [mailbox.m]; did you mean region?" in err
    config.write_text('[mailbox.m]\nurl = "memo://s"\ndepth = "9"\n', encoding="utf-8")
    code, _, err = run(capsys, "--config", str(config), "find", "m")
    assert code == 2 and "key depth in [mailbox.m] must be a whole number, not str" in err
    config.write_text('[mailbox.m]\nurl = "memo://s"\npassword_cmd = "x"\n', encoding="utf-8")
    assert run(capsys, "--config", str(config), "find", "m")[0] == 2  # IMAP's keys are not its


def test_a_third_party_provider_in_config_check_and_login(
    capsys: pytest.CaptureFixture[str], third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMO_KEY", "memo-secret-value-123456")
    config = write_config(
        third_party, '[mailbox.m]\nurl = "memo://s"\napi_key_env = "MEMO_KEY"\ndepth = 4\n'
    )
    code, out, _ = run(capsys, "--config", str(config), "config", "check")
    assert code == 0 and "[mailbox.m] (memo store)" in out
    assert "  api_key_env: $MEMO_KEY (set)" in out and "  depth: 4" in out
    assert "memo-secret-value" not in out
    code, out, _ = run(capsys, "config", "keys", "memo")
    assert code == 0 and "region" in out and "where the store lives" in out
    code, out, _ = run(capsys, "login", "--help")
    assert code == 0 and "memo" in out and "Sign in to the memo store." in out
    code, _, err = run(capsys, "login", "memo", "--region", "ap", "--verbose")
    assert code == 0 and "memo login in ap" in err
