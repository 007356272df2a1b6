"""The provider registry: built-ins declared as entry points, third parties added the same way."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Self

import pytest

from inbox_finder import ConfigError, find_token
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.boundary.registry import (
    BUILTIN_SCHEMES,
    ENTRY_POINT_GROUP,
    available_schemes,
    provider_class,
)
from inbox_finder.model import Candidate


def test_builtin_table_equals_the_declared_entry_points() -> None:
    declared = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    }
    assert declared == BUILTIN_SCHEMES
    for scheme in BUILTIN_SCHEMES:
        assert issubclass(provider_class(scheme), Provider)


class MemoryProvider(Provider):
    """A third-party provider: one token mail held in memory."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        return cls(options.profile["raw"])

    @property
    def source(self) -> str:
        return "memory:"

    def search(self, query: Query) -> Iterator[Candidate]:
        yield Candidate("1", datetime(2024, 1, 1, tzinfo=UTC))

    def fetch(self, candidate: Candidate) -> bytes:
        return self.raw


def test_third_party_scheme_via_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = importlib.metadata.EntryPoint("memory", f"{__name__}:MemoryProvider", ENTRY_POINT_GROUP)
    real = importlib.metadata.entry_points

    def fake(**kwargs: Any) -> Any:
        found = real(**kwargs)
        return [*found, ep] if kwargs.get("group") == ENTRY_POINT_GROUP else found

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    assert "memory" in available_schemes()
    assert provider_class("memory") is MemoryProvider
    with pytest.raises(ConfigError, match=r"known schemes: .*memory"):
        provider_class("nosuch")


def test_a_provider_instance_works_with_the_library() -> None:
    from mailgen import token_mail

    raw = token_mail("4jEAKuW3a4g33x2zsX11BkrsB")
    assert find_token(MemoryProvider(raw)).token == "4jEAKuW3a4g33x2zsX11BkrsB"


@pytest.mark.parametrize(
    "code",
    [
        "import inbox_finder.cli.main",
        "from inbox_finder import find_token; find_token('maildir:' + __import__('tempfile').mkdtemp() + '/x')",
        "import inbox_finder.providers.imap.provider",
    ],
)
def test_no_google_or_microsoft_sdk_on_cli_local_or_imap_paths(code: str) -> None:
    check = (
        "import sys\ntry:\n    " + code + "\nexcept Exception:\n    pass\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('googleapiclient', 'google', 'msal', 'google_auth_oauthlib', 'httplib2')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
