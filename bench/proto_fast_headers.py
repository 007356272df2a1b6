"""Prototype (evidence only, not shipped): what a lighter ``parse_headers`` would buy.

Usage (from the repository root)::

    .venv/bin/python bench/proto_fast_headers.py                # 3,000 messages, ~30 s

``inbox_finder.mail.parse.parse_headers`` builds a full ``policy.default`` header tree and then asks
it for Subject, From, Message-ID, Date, every Received and Authentication-Results header; each
access runs the RFC 5322 header value parser (``email._header_value_parser``), about 0.5 ms
per ordinary header block. ``fast_headers`` below splits the block itself (unfolds lines,
keeps only those six names), decodes RFC 2047 words only where ``=?`` occurs and parses dates
with ``email.utils``. It returns the same ``Headers`` value; the script checks that on the
generated corpus and on ``tests/corpus/*.eml``, then times ``engine``-style classification
(``screen_headers`` on the header block, full ``evaluate`` only when it passes) with both,
interleaved, against the full-parse baseline of ``bench_extract.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from email.header import decode_header, make_header
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_extract import POLICY, WHEN, classify_full
from gen_mailbox import iter_messages

from inbox_finder.engine import Rejection, evaluate, screen_headers
from inbox_finder.mail.headers import header_block
from inbox_finder.mail.parse import Headers, parse_date, parse_headers
from inbox_finder.model import Candidate

REPO = Path(__file__).resolve().parent.parent
_WANTED = {b"subject", b"from", b"message-id", b"date", b"received", b"authentication-results"}


def _text(value: bytes) -> str:
    text = value.decode("utf-8", "surrogateescape")
    if "=?" in text:
        with contextlib.suppress(Exception):  # keep the raw text, as the real parser would
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def fast_headers(block: bytes) -> Headers:
    """The same ``Headers`` as ``parse_headers``, from a hand-rolled split of the block."""
    fields: dict[bytes, list[bytes]] = {}
    name: bytes | None = None
    for line in block.splitlines():
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                fields[name][-1] += b" " + line.strip()
            continue
        key, sep, value = line.partition(b":")
        name = key.strip().lower() if sep else None
        if name in _WANTED:
            fields.setdefault(name, []).append(value.strip())
        else:
            name = None

    def first(key: bytes) -> str:
        values = fields.get(key)
        return _text(values[0]) if values else ""

    received = []
    for value in fields.get(b"received", []):
        when = parse_date(_text(value).rpartition(";")[2])
        if when is not None:
            received.append(when)
    return Headers(
        subject=first(b"subject"),
        from_raw=first(b"from"),
        message_id=first(b"message-id") or None,
        date=parse_date(first(b"date")),
        received_dates=tuple(received),
        auth_results=tuple(_text(v) for v in fields.get(b"authentication-results", [])),
    )


def classify_with(parse: Callable[[bytes], Headers]) -> Callable[[bytes], str | None]:
    def classify(raw: bytes) -> str | None:
        screened = screen_headers(parse(header_block(raw)), POLICY)
        if isinstance(screened, Rejection):
            return None
        found = evaluate(raw, Candidate("bench", WHEN, "server"), "bench", POLICY)
        return None if isinstance(found, Rejection) else found.token

    return classify


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    corpus = [m.raw for m in iter_messages(args.count, 2)]
    eml = [p.read_bytes() for p in sorted((REPO / "tests" / "corpus").glob("*.eml"))]
    same = sum(fast_headers(header_block(r)) == parse_headers(header_block(r)) for r in corpus)
    same_eml = sum(fast_headers(header_block(r)) == parse_headers(header_block(r)) for r in eml)
    print(f"same Headers: {same}/{len(corpus)} generated, {same_eml}/{len(eml)} tests/corpus")

    blocks = [header_block(r) for r in corpus]
    variants = {
        "parse_headers": parse_headers,
        "fast_headers": fast_headers,
    }
    per_block: dict[str, list[float]] = {n: [] for n in variants}
    for _ in range(args.rounds):
        for name, parse in variants.items():
            started = time.perf_counter()
            for block in blocks:
                parse(block)
            per_block[name].append((time.perf_counter() - started) / len(blocks))
    classifiers: dict[str, Callable[[bytes], str | None]] = {
        "engine (parse_headers)": classify_with(parse_headers),
        "engine (fast_headers)": classify_with(fast_headers),
        "full parse": classify_full,
    }
    secs: dict[str, list[float]] = {n: [] for n in classifiers}
    tokens: dict[str, set[str | None]] = {}
    names = list(classifiers)
    for rnd in range(args.rounds):
        for name in names[rnd % 3 :] + names[: rnd % 3]:
            classify = classifiers[name]
            started = time.perf_counter()
            found = {classify(raw) for raw in corpus}
            secs[name].append(time.perf_counter() - started)
            tokens[name] = found
    print("\n| header parse | median per header block |\n|---|---:|")
    for name, values in per_block.items():
        print(f"| `{name}` | {statistics.median(values) * 1e6:.0f} us |")
    base = statistics.median(secs["full parse"])
    print("\n| classifier | median msg/s | vs full parse |\n|---|---:|---:|")
    for name, values in secs.items():
        med = statistics.median(values)
        print(f"| {name} | {len(corpus) / med:,.0f} | **{base / med:.1f}x** |")
    agree = tokens["engine (fast_headers)"] == tokens["engine (parse_headers)"]
    print(f"\nsame tokens with fast_headers: {agree}")
    return 0 if agree and same == len(corpus) else 1


if __name__ == "__main__":
    raise SystemExit(main())
