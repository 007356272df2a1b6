"""[run] per_host: how sources map to servers, the config key, and the capped scheduler."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from inbox_finder.config import Config, load_config
from inbox_finder.errors import ConfigError
from inbox_finder.hostcap import DEFAULT_PER_HOST, host_of, run_capped
from inbox_finder.many import resolve_per_host, source_host


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("imaps://dana@IMAP.Example.com/INBOX", "imap://imap.example.com"),
        ("imap://dana@imap.example.com:143", "imap://imap.example.com"),  # any port: one server
        ("imaps://a:pw@[::1]:993", "imap://::1"),
        ("gmail://me", "gmail"),  # every Gmail mailbox is one API endpoint
        ("outlook://dana@example.com", "outlook"),
        ("maildir:~/Mail", None),  # local files: no limit
        ("mbox:/var/mail/dana", None),
        ("memory:x", None),
        ("imaps://bad:port:x@", "imaps"),  # malformed: the provider reports it
    ],
)
def test_host_of(url: str, host: str | None) -> None:
    assert host_of(url) == host


def test_profile_names_resolve_to_their_server() -> None:
    config = Config(profiles={"work": {"url": "imaps://d@mail.example.com"}})
    assert source_host("work", config) == "imap://mail.example.com"
    assert source_host("imaps://x@other.example.com", config) == "imap://other.example.com"
    assert source_host("unknown-profile", config) is None  # it fails on its own, later


def test_per_host_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[run]\njobs = 16\nper_host = 2\n")
    config = load_config(path)
    assert (config.jobs, config.per_host, resolve_per_host(config)) == (16, 2, 2)
    assert resolve_per_host(Config()) == DEFAULT_PER_HOST == 8
    for bad, message in [
        ("per_host = 0", "run.per_host must be a whole number from 1 to 64"),
        ('per_host = "4"', "run.per_host must be a whole number"),
        ("per_hosts = 4", "[run] must be a table with the keys jobs and per_host"),
    ]:
        path.write_text(f"[run]\n{bad}\n")
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_config(path)


def test_run_capped_keeps_order_and_both_limits() -> None:
    items = [f"{host}{i}" for i in range(6) for host in "abc"] + ["local0", "local1"]
    running: Counter[str | None] = Counter()
    peak: Counter[str | None] = Counter()
    lock = threading.Lock()

    def key(item: str) -> str | None:
        return None if item.startswith("local") else item[0]

    def work(item: str) -> str:
        with lock:
            running[key(item)] += 1
            running["all"] += 1
            for k in (key(item), "all"):
                peak[k] = max(peak[k], running[k])
        time.sleep(0.02)
        with lock:
            running[key(item)] -= 1
            running["all"] -= 1
        return item.upper()

    assert run_capped(items, work, jobs=5, per_host=2, host=key) == [i.upper() for i in items]
    assert peak["all"] == 5 and all(peak[h] == 2 for h in "abc")


def test_run_capped_reraises_a_bug_after_the_others_ran() -> None:
    done: list[int] = []

    def work(n: int) -> int:
        if n == 1:
            raise RuntimeError("boom")
        done.append(n)
        return n

    with pytest.raises(RuntimeError, match="boom"):
        run_capped([0, 1, 2, 3], work, jobs=2, per_host=1, host=lambda n: "one")
    assert sorted(done) == [0, 2, 3]


def test_threads_stay_at_jobs_however_many_sources() -> None:
    before = threading.active_count()
    most = [0]

    def work(n: int) -> int:
        most[0] = max(most[0], threading.active_count() - before)
        return n

    items = list(range(5000))
    assert run_capped(items, work, jobs=4, per_host=2, host=lambda n: f"h{n % 50}") == items
    assert most[0] <= 4  # never a thread (or a connection) per source
