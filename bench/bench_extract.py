"""Benchmark 3: classification throughput over a corpus of mixed mail.

Usage (from the repository root)::

    .venv/bin/python -m bench.bench_extract                    # 3,000 messages x 5 rounds, ~1 min
    .venv/bin/python -m bench.bench_extract --count 10000 --rounds 7

The corpus is ``bench/gen_mailbox.iter_messages`` (the mailbox mix: ~97 % non-Salesforce mail of
1.5-100 KB, some with base64 attachments, 3 % other salesforce.com notifications, token mails
and verification look-alikes), held in memory so only CPU is measured. Variants, interleaved
round by round (the order rotates) in one process:

* ``parse``    -- ``parse_headers(header_block(raw))`` then ``engine.screen_headers`` for every
  message; ``engine.evaluate`` (full parse + extract) only when it passes;
* ``engine``   -- the engine's real header path (``engine.iter_findings``): the
  ``parse.from_header_mentions`` byte test on the raw From header first, then the same as
  ``parse`` for mail From a trusted domain (the local providers narrow the same way);
* ``full``     -- the baseline: ``email.message_from_bytes(raw, policy=default)`` for every
  message, walk every part, ``get_content()`` of each text part, regex the token out of mail
  From salesforce.com whose subject says "security token".

It reports messages per second (median of rounds), the ratio to ``full``, the time per message
by mail class, and checks every variant finds the same set of tokens.
"""

from __future__ import annotations

import argparse
import email
import gc
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from bench.gen_mailbox import BENCH_DIR, iter_messages
from inbox_finder.engine import Rejection, evaluate, screen_headers
from inbox_finder.mail.headers import from_header_mentions, header_block
from inbox_finder.mail.parse import parse_headers
from inbox_finder.model import Candidate
from inbox_finder.trust.policy import TrustPolicy

NAIVE_TOKEN = re.compile(r"security token[^:\n]*:\s*([A-Za-z0-9]{20,30})", re.IGNORECASE)
POLICY = TrustPolicy()
WHEN = datetime(2024, 6, 1, tzinfo=UTC)
Classifier = Callable[[bytes], str | None]


def classify_parse(raw: bytes) -> str | None:
    """Header screening on the parsed header block; full evaluate only when it passes."""
    screened = screen_headers(parse_headers(header_block(raw)), POLICY)
    if isinstance(screened, Rejection):
        return None
    found = evaluate(raw, Candidate("bench", WHEN, "server"), "bench", POLICY)
    return None if isinstance(found, Rejection) else found.token


def classify_engine(raw: bytes) -> str | None:
    """The engine's path: a byte test of the raw From header before any parsing."""
    if not from_header_mentions(header_block(raw), POLICY.sender_domains):
        return None
    return classify_parse(raw)


def classify_full(raw: bytes) -> str | None:
    """Parse everything, walk every part, decode text parts, then decide."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text" and not part.is_attachment():
            texts.append(part.get_content())
    sender = str(msg.get("From", "")).lower()
    subject = str(msg.get("Subject", "")).lower()
    if "salesforce.com" not in sender or "security token" not in subject:
        return None
    for text in texts:
        m = NAIVE_TOKEN.search(text)
        if m:
            return m.group(1)
    return None


VARIANTS: dict[str, Classifier] = {
    "parse": classify_parse,
    "engine": classify_engine,
    "full": classify_full,
}


def one_round(
    fn: Classifier, corpus: list[tuple[str, bytes]]
) -> tuple[float, dict[str, int], set[str]]:
    """Seconds for the corpus, nanoseconds per mail class, tokens found."""
    per_kind: dict[str, int] = {}
    tokens: set[str] = set()
    clock = time.perf_counter_ns
    gc.collect()
    started = time.perf_counter()
    for kind, raw in corpus:
        t0 = clock()
        token = fn(raw)
        per_kind[kind] = per_kind.get(kind, 0) + clock() - t0
        if token:
            tokens.add(token)
    return time.perf_counter() - started, per_kind, tokens


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, default=3000, help="messages in the corpus")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per variant")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--json", type=Path, default=BENCH_DIR / "results-extract.json")
    args = ap.parse_args(argv)

    corpus = [(m.kind, m.raw) for m in iter_messages(args.count, args.seed)]
    kinds: dict[str, int] = {}
    for kind, _ in corpus:
        kinds[kind] = kinds.get(kind, 0) + 1
    total_bytes = sum(len(raw) for _, raw in corpus)
    print(
        f"corpus: {len(corpus)} messages, {total_bytes / (1 << 20):.0f} MiB, {kinds}",
        file=sys.stderr,
    )
    names = list(VARIANTS)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    per_kind: dict[str, list[dict[str, int]]] = {n: [] for n in names}
    found: dict[str, set[str]] = {}
    for rnd in range(args.rounds):
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            secs, kinds_ns, tokens = one_round(VARIANTS[name], corpus)
            seconds[name].append(secs)
            per_kind[name].append(kinds_ns)
            found[name] = tokens
            print(f"  round {rnd} {name:8} {len(corpus) / secs:9.0f} msg/s", file=sys.stderr)

    base = statistics.median(seconds["full"])
    lines = [
        "| variant | median msg/s | MiB/s | time / corpus | vs full parse |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        med = statistics.median(seconds[name])
        lines.append(
            f"| {name} | {len(corpus) / med:,.0f} | {total_bytes / (1 << 20) / med:,.0f} "
            f"| {med:.3f} s | **{base / med:.1f}x** |"
        )
    lines += [
        "",
        "Median time per message by mail class (microseconds):",
        "",
        "| class | messages | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for kind in sorted(kinds):
        cells = []
        for name in names:
            us = statistics.median(r[kind] for r in per_kind[name]) / kinds[kind] / 1000
            cells.append(f"{us:,.0f}")
        lines.append(f"| {kind} | {kinds[kind]} | " + " | ".join(cells) + " |")
    same = found["parse"] == found["engine"] == found["full"]
    lines += ["", f"tokens found: {len(found['engine'])} by every variant: {same}"]
    print("\n".join(lines))
    args.json.write_text(
        json.dumps(
            {
                "count": len(corpus),
                "bytes": total_bytes,
                "kinds": kinds,
                "seconds": seconds,
                "per_kind_ns": per_kind,
                "same_tokens": same,
            },
            indent=1,
        )
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
