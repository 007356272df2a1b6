"""Whether the tests run in CI, where a missing real server or writer must fail, not skip."""

from __future__ import annotations

import os


def running_in_ci() -> bool:
    """True when ``CI`` is set to anything (CI services set ``CI=true``; so does ``.ci/run``).

    Any value counts, so that no spelling of it lets a real-server test skip in CI.
    """
    return bool(os.environ.get("CI"))
