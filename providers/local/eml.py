"""``eml:DIR``: a folder of ``.eml`` files, one message each, opened read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from inbox_finder.errors import ConfigError
from inbox_finder.model import Candidate

from ._base import Entry, LocalProvider, mtime


class EmlDirProvider(LocalProvider):
    """A folder of ``.eml`` files (one message each); file time is the mtime."""

    scheme = "eml"
    kind = "eml folder"

    @classmethod
    def _check_path(cls, path: Path) -> None:
        super()._check_path(path)
        if not path.is_dir():
            raise ConfigError(f"eml: source must be a folder of .eml files: {path}")

    def sync_cursor(self) -> str:
        return self._dir_cursor(self.path)

    def _entries(self, after_cursor: str | None) -> Iterator[Entry]:
        files = [(f, mtime(f)) for f in self.path.glob("*.eml") if f.is_file()]
        files.sort(key=lambda item: (item[1], item[0].name), reverse=True)
        for file, when in files:
            yield Entry(file.name, when, self._head_reader(file))

    def fetch(self, candidate: Candidate) -> bytes:
        return self._read_file(self.path / candidate.ref)
