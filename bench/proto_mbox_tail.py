"""Prototype (evidence only, not shipped): what a backward mbox scan would cost.

Usage (from the repository root)::

    .venv/bin/python bench/proto_mbox_tail.py                  # 20M,200M,2G, 5 rounds, ~1 min
    .venv/bin/python bench/proto_mbox_tail.py --sizes 2G --rounds 9

``providers.local.MboxProvider`` indexes every ``From_`` line of the file in one forward pass
before reading any header, so a lookup costs time linear in the file size even though it then
stops within the last 1 % of messages. ``TailMboxProvider`` below is that provider with only
``_entries`` replaced: it scans backwards from the end of the file in 1 MiB chunks and yields
each message as soon as its ``From_`` line is found, so the engine's existing early stop ends
the scan near the end of the file. It assumes the file is in delivery order (true of mail
appended by an MDA; not of imports/Takeout, see BENCHMARKS.md for the guard the real change
needs). Both are timed in this process, interleaved, with the same ``iter_findings`` engine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_mailbox import ensure_mbox, parse_size
from inbox_finder.providers.local import CHUNK, MboxProvider, _Entry, _from_line_time, _mtime

from inbox_finder.engine import iter_findings
from inbox_finder.provider import SourceOptions


class TailMboxProvider(MboxProvider):  # type: ignore[misc]
    """MboxProvider reading ``From_`` lines backwards from the end (prototype)."""

    def _entries(self, after_cursor: str | None) -> Iterator[_Entry]:
        fd = self._file().fileno()
        size = os.fstat(fd).st_size
        file_time = _mtime(self.path)  # delivery bound for a first message without a date
        end = size  # end of the message whose From_ line is searched next
        pos = size  # bytes before pos are not scanned yet
        while pos > 0:
            start = max(0, pos - CHUNK)
            # 1 KiB of overlap so a From_ line starting in this chunk is complete.
            buf = os.pread(fd, pos - start + 1024, start)
            limit = pos - start  # only line starts before ``pos`` belong to this chunk
            # "\nFrom " whose newline is before ``limit`` (its line may start exactly at pos).
            i = buf.rfind(b"\nFrom ", 0, limit + 5)
            while True:
                line_start = i + 1 if i >= 0 else 0
                if i < 0 and start != 0:
                    break  # the rest is in the previous chunk
                line_end = buf.find(b"\n", line_start)
                line = buf[line_start:line_end]
                when = _from_line_time(line)
                offset = start + line_start
                if when is not None or offset == 0:
                    when = when or file_time
                    body = offset + len(line) + 1
                    yield _Entry(f"{body}:{end}", when, self._mbox_head(body, end))
                    end = offset
                if i < 0:
                    return
                i = buf.rfind(b"\nFrom ", 0, i)
            pos = start


def lookup(cls: type[MboxProvider], path: str) -> tuple[float, str | None]:
    started = time.perf_counter()
    with cls.from_url(f"mbox:{path}", SourceOptions()) as provider:
        finding = next(iter_findings(provider), None)
    return time.perf_counter() - started, finding.token if finding else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="20M,200M,2G")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    print("| mbox | current (forward index) | backward scan (prototype) | speed-up | same token |")
    print("|---|---:|---:|---:|---|")
    ok = True
    for size in args.sizes.split(","):
        meta = ensure_mbox(parse_size(size))
        times: dict[str, list[float]] = {"current": [], "tail": []}
        same = True
        for rnd in range(args.rounds):
            order = [("current", MboxProvider), ("tail", TailMboxProvider)]
            for name, cls in order if rnd % 2 == 0 else order[::-1]:
                secs, token = lookup(cls, meta.path)
                times[name].append(secs)
                same = same and token == meta.token
        cur, tail = statistics.median(times["current"]), statistics.median(times["tail"])
        print(
            f"| {size} | {cur * 1000:.1f} ms | {tail * 1000:.1f} ms | {cur / tail:.0f}x "
            f"| {'yes' if same else 'NO'} |"
        )
        ok = ok and same
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
