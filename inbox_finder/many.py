"""Many sources at once: a concurrent search that isolates failures.

Which sources a run searches (groups, ``local:``, shards) is ``inbox_finder.sources``.

``search_sources`` opens each source in a worker thread (at most ``jobs`` at a time, and at
most ``per_host`` of them on one server: ``inbox_finder.hostcap``) and merges what they found
by receive time, newest first. The merge is a stable sort of the per-source answers taken in
the order the sources were given, so the answer is the same as searching them one by one,
whatever order the threads finish in. A source that fails (an ``InboxFinderError``:
unreachable, wrong password, bad profile) becomes a ``SourceFailure`` and never stops the
others; ``find_tokens`` turns failures into a ``PartialSearchError``
that carries the findings of the sources that answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from inbox_finder.boundary.provider import Provider
from inbox_finder.config import Config, parse_jobs
from inbox_finder.engine import Selection, newest_per_username, rejection_summary
from inbox_finder.errors import ConfigError, InboxFinderError, NotFoundError, PartialSearchError
from inbox_finder.hostcap import DEFAULT_PER_HOST, host_of, run_capped
from inbox_finder.model import Finding
from inbox_finder.sources import source_label

S = TypeVar("S", bound="str | Provider")  # a source: a URL, a profile name or a provider
R = TypeVar("R")

DEFAULT_JOBS = 4


def resolve_jobs(jobs: int | None, config: Config) -> int:
    """``jobs`` (``--jobs``), else the config's ``[run] jobs``, else DEFAULT_JOBS."""
    if jobs is not None:
        return parse_jobs(jobs, "jobs")
    return config.jobs or DEFAULT_JOBS


def resolve_per_host(config: Config) -> int:
    """The config's ``[run] per_host``, else DEFAULT_PER_HOST."""
    return config.per_host or DEFAULT_PER_HOST


def source_host(source: str | Provider, config: Config) -> str | None:
    """The server a source (URL, profile name or provider) talks to; None for local files."""
    if isinstance(source, Provider):
        return host_of(source.source)
    profile = config.profiles.get(source) if ":" not in source else None
    url = profile.get("url") if profile else source
    return host_of(url) if isinstance(url, str) else None


@dataclass(frozen=True)
class Capacity:
    """How many sources run at once (``jobs``), how many of them may talk to one server
    (``per_host``), and which server a source talks to (``host``)."""

    jobs: int
    per_host: int
    host: Callable[[str | Provider], str | None]

    @classmethod
    def of(cls, jobs: int | None, config: Config) -> Capacity:
        """From ``--jobs`` and the config's ``[run]`` table."""
        return cls(
            resolve_jobs(jobs, config),
            resolve_per_host(config),
            lambda source: source_host(source, config),
        )

    def run(self, items: Sequence[S], work: Callable[[S], R]) -> list[R]:
        """``work`` for every item within these limits; the answers in input order."""
        return run_capped(items, work, jobs=self.jobs, per_host=self.per_host, host=self.host)


@dataclass(frozen=True)
class SourceFailure:
    """A source that could not be searched, and why (a one-line, secret-free error)."""

    source: str | Provider
    label: str
    error: InboxFinderError

    def __str__(self) -> str:
        return f"{self.label}: {self.error}"


@dataclass
class SearchResult:
    """What a search of many sources found, and which sources could not be searched."""

    findings: list[Finding]
    failures: list[SourceFailure]
    sources: list[str | Provider]
    selection: Selection
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def complete(self) -> bool:
        """True when every source was searched."""
        return not self.failures

    def not_found(self) -> NotFoundError:
        """The NotFoundError for an empty answer from every source that answered."""
        who = f" for {self.selection.username}" if self.selection.username else ""
        since = self.selection.since
        when = f" since {since.astimezone():%Y-%m-%d %H:%M %Z}" if since else ""
        answered = len(self.sources) - len(self.failures)
        summary = rejection_summary(self.rejected)
        why = f"; {summary}" if summary else ""
        return NotFoundError(
            f"no security token email found{who}{when} in {answered} source(s)"
            f" ({', '.join(source_label(s) for s in self.sources[:5])}"
            f"{', …' if len(self.sources) > 5 else ''}){why}",
            self.rejected,
        )

    def partial_error(self) -> PartialSearchError:
        """The error for an incomplete search; it carries the findings and the failures."""
        return PartialSearchError(
            f"{len(self.failures)} of {len(self.sources)} sources failed",
            self.findings,
            self.failures,
            len(self.sources) - len(self.failures),
        )


Lookup = Callable[[str | Provider], tuple[list[Finding], Counter[str]]]


def search_sources(
    sources: Sequence[str | Provider],
    lookup: Lookup,
    selection: Selection,
    capacity: Capacity,
    *,
    limit: int | None,
    per_username: bool,
) -> SearchResult:
    """Run ``lookup`` on every source, as many at once as ``capacity`` allows."""

    def one(source: str | Provider) -> tuple[list[Finding], Counter[str]] | SourceFailure:
        try:
            return lookup(source)
        except InboxFinderError as exc:
            return SourceFailure(source, source_label(source), exc)

    answers = capacity.run(sources, one)  # in the order given
    result = SearchResult([], [], list(sources), selection)
    merged: list[Finding] = []
    for answer in answers:
        if isinstance(answer, SourceFailure):
            result.failures.append(answer)
            continue
        merged.extend(answer[0])
        result.rejected.update(answer[1])
    merged.sort(key=lambda finding: finding.received, reverse=True)  # stable: ties keep order
    if per_username:
        merged = newest_per_username(iter(merged))
    result.findings = merged[:limit] if limit is not None else merged
    return result


def find_many(
    sources: Sequence[str | Provider],
    lookup: Lookup,
    selection: Selection,
    config: Config | None,
    *,
    jobs: int | None,
    required: bool,
    limit: int | None,
    per_username: bool,
    **_: object,
) -> list[Finding]:
    """``find_tokens`` over several sources: PartialSearchError if any failed."""
    if not sources:
        raise ConfigError("no source to search")
    capacity = Capacity.of(jobs, config or Config())
    result = search_sources(
        sources, lookup, selection, capacity, limit=limit, per_username=per_username
    )
    if result.failures:
        raise result.partial_error()
    if required and not result.findings:
        raise result.not_found()
    return result.findings
