"""The provider registry: built-ins declared as entry points, third parties added the same way
or at run time with ``register_provider``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from inbox_finder.providers.memory import (
    MemoryProvider,
    MemoryStore,
    register_store,
    unregister_store,
)

import inbox_finder
from inbox_finder import ConfigError, find_token
from inbox_finder.boundary.provider import Provider
from inbox_finder.boundary.registry import (
    BUILTIN_SCHEMES,
    ENTRY_POINT_GROUP,
    available_schemes,
    open_provider,
    provider_class,
    register_provider,
    unregister_provider,
)
from inbox_finder.testing.mail import token_mail

TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"


def test_builtin_table_equals_the_declared_entry_points() -> None:
    declared = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    }
    assert declared == BUILTIN_SCHEMES
    assert "memory" in BUILTIN_SCHEMES
    for scheme in BUILTIN_SCHEMES:
        assert issubclass(provider_class(scheme), Provider)


class VaultProvider(MemoryProvider):
    """A third party's provider: the memory provider under another scheme."""

    kind = "vault"


def test_third_party_scheme_via_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = importlib.metadata.EntryPoint("vault", f"{__name__}:VaultProvider", ENTRY_POINT_GROUP)
    real = importlib.metadata.entry_points

    def fake(**kwargs: Any) -> Any:
        found = real(**kwargs)
        return [*found, ep] if kwargs.get("group") == ENTRY_POINT_GROUP else found

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    assert "vault" in available_schemes()
    assert provider_class("vault") is VaultProvider
    with pytest.raises(ConfigError, match=r"known schemes: .*vault"):
        provider_class("nosuch")


def test_register_provider_at_run_time() -> None:
    assert inbox_finder.register_provider is register_provider
    with pytest.raises(ConfigError, match="unknown source scheme 'runtime'"):
        provider_class("runtime")
    assert register_provider("Runtime", VaultProvider) is VaultProvider
    try:
        assert provider_class("runtime") is VaultProvider
        assert available_schemes()["runtime"] == f"{__name__}:VaultProvider"
        register_store("reg", MemoryStore([(token_mail(TOKEN), datetime(2024, 1, 1, tzinfo=UTC))]))
        opened = open_provider("runtime:reg")
        assert isinstance(opened, VaultProvider)
        assert find_token("runtime:reg").token == TOKEN
    finally:
        unregister_provider("runtime")
        unregister_store("reg")
    with pytest.raises(ConfigError, match="unknown source scheme"):
        provider_class("runtime")


def test_a_registered_class_wins_over_a_built_in() -> None:
    register_provider("mbox", VaultProvider)
    try:
        assert provider_class("mbox") is VaultProvider
    finally:
        unregister_provider("mbox")
    assert provider_class("mbox").__name__ == "MboxTreeProvider"


@pytest.mark.parametrize("scheme", ["", "no scheme", "a:b", "x/y"])
def test_register_provider_refuses_a_malformed_scheme(scheme: str) -> None:
    with pytest.raises(ValueError, match="not a URL scheme"):
        register_provider(scheme, VaultProvider)


def test_register_provider_refuses_what_is_not_a_provider_class() -> None:
    with pytest.raises(TypeError, match="Provider subclass"):
        register_provider("x", object)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Provider subclass"):
        register_provider("x", VaultProvider(MemoryStore(), "n"))  # type: ignore[arg-type]


def test_a_provider_instance_works_with_the_library() -> None:
    store = MemoryStore([(token_mail(TOKEN), datetime(2024, 1, 1, tzinfo=UTC))])
    assert find_token(MemoryProvider(store, "instance")).token == TOKEN


@pytest.mark.parametrize(
    "code",
    [
        "import inbox_finder.cli.main",
        "import os, tempfile\nd = tempfile.mkdtemp()\nos.mkdir(d + '/cur')\n"
        "from inbox_finder import find_tokens\nassert find_tokens('maildir:' + d) == []",
        "import inbox_finder.providers.imap.provider",
        "import inbox_finder.testing, inbox_finder.testing.mail, inbox_finder.providers.memory",
    ],
)
def test_no_google_or_microsoft_sdk_on_cli_local_or_imap_paths(code: str) -> None:
    check = (
        code + "\nimport sys\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('googleapiclient', 'google', 'msal', 'google_auth_oauthlib', 'httplib2')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importing_the_package_or_its_mail_builders_does_not_import_pytest() -> None:
    code = (
        "import sys, inbox_finder, inbox_finder.testing, inbox_finder.testing.mail\n"
        "from inbox_finder import find_token\n"
        "print('pytest' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("source", ["local:x", "LOCAL:/home/dana/Mail"])
def test_local_with_a_path_says_local_takes_none(source: str) -> None:
    # `local:` is every discovered store; given a path it is not an unknown scheme.
    with pytest.raises(ConfigError, match=r"^local: takes no path: .*maildir:PATH") as caught:
        find_token(source)
    assert "unknown source scheme" not in str(caught.value)
