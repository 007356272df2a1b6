"""The provider contract: every provider, loaded with the golden corpus, must give these results.

A provider's test module subclasses ``ProviderContract`` and supplies the ``source`` fixture
(a URL or Provider-ready string) and, if needed, ``find_kwargs`` (ca_file, config …).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from corpus_util import negatives, positives

from inbox_finder import NotFoundError, find_token, find_tokens


class ProviderContract:
    """Shared assertions; subclasses provide fixtures ``source`` and ``find_kwargs``."""

    @pytest.fixture
    def find_kwargs(self) -> dict[str, Any]:
        return {}

    def test_all_findings_match_corpus_newest_first(
        self, source: str, find_kwargs: dict[str, Any]
    ) -> None:
        found = find_tokens(source, **find_kwargs)
        expected = positives()
        assert [f.token for f in found] == [e.token for e in expected]
        for f, e in zip(found, expected, strict=True):
            assert (f.username, f.language, f.template) == (e.username, e.language, e.template)
            assert f.received == e.received, e.file
            assert f.received.tzinfo is not None

    def test_newest_overall(self, source: str, find_kwargs: dict[str, Any]) -> None:
        assert find_token(source, **find_kwargs).token == positives()[0].token

    @pytest.mark.parametrize(
        "username",
        [
            "dana@example.com",
            "dana@example.com.uat",
            "tz@example.com",
            "yamada@example.co.jp",
            "DANA@EXAMPLE.COM",
        ],
    )
    def test_newest_per_username(
        self, source: str, find_kwargs: dict[str, Any], username: str
    ) -> None:
        want = next(e for e in positives() if (e.username or "").lower() == username.lower())
        got = find_token(source, username=username, **find_kwargs)
        assert (got.token, got.received) == (want.token, want.received)

    def test_since_excludes_older_mail(self, source: str, find_kwargs: dict[str, Any]) -> None:
        cutoff = positives()[2].received
        found = find_tokens(source, since=cutoff, **find_kwargs)
        assert [f.token for f in found] == [e.token for e in positives()[:3]]
        just_after = cutoff + timedelta(seconds=1)
        assert len(find_tokens(source, since=just_after, **find_kwargs)) == 2

    def test_unknown_username_is_not_found(self, source: str, find_kwargs: dict[str, Any]) -> None:
        with pytest.raises(NotFoundError):
            find_token(source, username="nobody@example.com", **find_kwargs)

    def test_look_alikes_never_yield(self, source: str, find_kwargs: dict[str, Any]) -> None:
        found = find_tokens(source, **find_kwargs)
        # Exactly one finding per positive file: no look-alike slipped in, nothing is doubled.
        assert sorted(f.message_id or "" for f in found) == sorted(
            e.message_id for e in positives()
        )
        assert not {f.message_id for f in found} & {e.message_id for e in negatives()}
