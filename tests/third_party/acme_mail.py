"""A provider package as a third party writes one (copied outside the repository by
test_third_party_provider.py): ``acmedir:PATH``, a folder of ``<epoch>-<n>.msg`` files.

It uses only what ``inbox_finder`` exports, and ignores the sender narrowing (allowed: a
provider may return more candidates, never fewer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from inbox_finder import Candidate, ConfigError, Provider, Query, SourceOptions

NAME = re.compile(r"^(\d+)-(\d+)\.msg$")


class AcmeProvider(Provider):
    kind = "acme folder"

    def __init__(self, url: str, path: Path) -> None:
        self.url, self.path = url, path

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> AcmeProvider:
        path = Path(url.partition(":")[2])
        if not path.is_dir():
            raise ConfigError(f"acme folder not found: {path}")
        return cls(url, path)

    @property
    def source(self) -> str:
        return self.url

    def sync_cursor(self) -> str:
        return f"acme:{self.path.stat().st_mtime_ns}"

    def search(self, query: Query) -> Iterator[Candidate]:
        found = []
        for file in self.path.iterdir():
            m = NAME.match(file.name)
            if m:
                found.append(Candidate(file.name, datetime.fromtimestamp(int(m[1]), UTC)))
        found.sort(key=lambda c: (c.received, c.ref), reverse=True)
        for candidate in found:
            if query.since is None or candidate.received >= query.since:
                yield candidate

    def fetch(self, candidate: Candidate) -> bytes:
        return (self.path / candidate.ref).read_bytes()
