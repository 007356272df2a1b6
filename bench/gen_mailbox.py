"""Deterministic (seeded) mailbox fixtures for the benchmarks: an mbox of a target size, a
Maildir of N files, and an in-memory corpus of mixed mail.

Usage::

    .venv/bin/python -m bench.gen_mailbox mbox --size 2G          # /tmp/inbox-finder-bench/...
    .venv/bin/python -m bench.gen_mailbox maildir --count 100000
    .venv/bin/python -m bench.gen_mailbox corpus --count 2000     # print the mix only

Everything is written under ``$INBOX_FINDER_BENCH_DIR`` (default ``/tmp/inbox-finder-bench``),
never in the repository, and reused when already generated: the parameters are in the name and
a JSON sidecar (``*.json``, written last) records the expected answer.

The mix (per message, drawn from ``random.Random(seed)``):

* ~55 % plain-text non-Salesforce mail (1.5-8 KB), ~27 % multipart/alternative HTML
  newsletters (8-60 KB), ~15 % multipart/mixed mail with a base64 attachment (20-100 KB);
* 3 % other salesforce.com notifications (sandbox, password, export, cases, maintenance; 1 in
  20 has "token" in its subject so it passes header screening and needs a full read), 0.2 %
  identity-verification look-alikes;
* ``count // 500 + 3`` token mails scattered over the mailbox (three usernames, plain or
  plain+HTML, a few legacy subjects);
* the newest token mail is at index ``count - 1 - max(2, count // 200)``, i.e. among the last
  0.5 % of messages but not the last; it is followed by a Salesforce notification and an
  identity-verification mail so a lookup has to screen newer Salesforce mail first.

Messages are in delivery order, 3 years ending 2024-06-01; each Date header is 5-300 s
before delivery (the mbox ``From_`` line / the Maildir file name).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import string
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

GEN_VERSION = 2
BENCH_DIR = Path(os.environ.get("INBOX_FINDER_BENCH_DIR", "/tmp/inbox-finder-bench"))
END = datetime(2024, 6, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
ALPHABET = string.ascii_letters + string.digits
USERNAMES = ("dana@example.com", "dana@example.com.uat", "ops@example.com")
NEWEST_USERNAME = USERNAMES[0]
POOL = 48  # bodies per kind; messages reuse them with their own headers

# Filler kinds and their probabilities (token mails are placed separately).
P_SF = 0.03
P_VERIFY = 0.002
P_ATTACH = 0.15
P_HTML = 0.27

_WORDS = (
    "the of and to in is for on with as by at from this that be are it an or we you your our "
    "new update report meeting project team please review attached thanks regards schedule "
    "quarter budget release notes customer order invoice shipping account data service cloud "
    "security network policy change request approved pending deadline friday monday office "
    "event webinar register today offer limited free trial product feature improvement fix "
    "issue ticket support question answer community forum digest weekly monthly summary "
    "analytics dashboard performance metrics growth revenue sales marketing campaign lead "
    "contact partner integration platform developer api release candidate build deploy test"
).split()

_SF_SUBJECTS = (
    ("noreply@salesforce.com", "Sandbox: Your sandbox copy of UAT is complete"),
    ("noreply@salesforce.com", "Your Salesforce password has been changed"),
    ("support@salesforce.com", "Weekly Export Service: your export is ready"),
    ("noreply@salesforce.com", "[Salesforce] Case 0{n:07d} has been assigned to you"),
    ("trust@salesforce.com", "Scheduled maintenance for instance NA{n3}"),
    ("info@em.salesforce.com", "Dreamforce: sessions you might like"),
    ("no-reply@mail.salesforce.com", "Login from a new device"),
    ("noreply@salesforce.com", "Apex script unhandled exception by user/organization"),
)
# 1 in 20 notifications names a token without carrying one (passes the subject screen).
_SF_TOKEN_SUBJECT = (
    "noreply@salesforce.com",
    "Connected App refresh token policy changed for {n3}",
)
_OTHER_SENDERS = (
    "news@example.org",
    "digest@lists.example.net",
    "billing@shop.example.com",
    "alerts@monitoring.example.io",
    "team@project.example.dev",
    "noreply@github.example.com",
    "colleague@example.com",
    "events@conference.example.org",
)
_OTHER_SUBJECTS = (
    "Weekly digest #{n}",
    "Your invoice {n} is available",
    "Re: project update {n3}",
    "[alert] disk usage above 80% on host-{n3}",
    "Meeting notes {n3}",
    "Your personal access token expires soon",
    "Webinar invitation: cloud security {n3}",
    "Fwd: release notes {n3}",
)


@dataclass(frozen=True)
class Meta:
    """What was generated and the answer a correct lookup must give."""

    kind: str
    path: str
    seed: int
    count: int
    bytes: int
    token: str
    username: str
    token_index: int
    token_date: str
    token_mails: int
    sf_notifications: int
    version: int = GEN_VERSION


def parse_size(text: str) -> int:
    """``20M``, ``200M``, ``2G`` (binary units) or plain bytes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 20M, 2G)")
    unit = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(float(m.group(1)) * unit)


def size_label(size: int) -> str:
    """``2G``/``200M``-style label for a byte count."""
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


# --- bodies -----------------------------------------------------------------------------------


def _text(rng: random.Random, size: int) -> str:
    """Plain prose of about ``size`` characters in lines under 78 columns."""
    out: list[str] = []
    total = 0
    line: list[str] = []
    width = 0
    while total < size:
        word = rng.choice(_WORDS)
        if width + len(word) > 72:
            text = " ".join(line)
            text = text[0].upper() + text[1:] + ("." if rng.random() < 0.3 else "")
            # An mbox writer escapes body lines that start with "From " (mboxrd).
            out.append(">" + text if text.startswith("From ") else text)
            total += width + 1
            line, width = [], 0
            if rng.random() < 0.12:
                out.append("")
            if rng.random() < 0.01:
                out.append(">From the desk of the editor")  # mboxrd-escaped body line
        line.append(word)
        width += len(word) + 1
    out.append(" ".join(line))
    return "\n".join(out) + "\n"


def _html(rng: random.Random, size: int) -> str:
    parts = ['<html><head><style>p{margin:0}</style></head><body><table width="100%">']
    total = 0
    while total < size:
        para = _text(rng, rng.randint(200, 900)).replace("\n", " ")
        cell = f'<tr><td style="padding:8px;font-family:Arial">{para}</td></tr>\n'
        parts.append(cell)
        total += len(cell)
    parts.append("</table></body></html>\n")
    return "".join(parts)


def _boundary(rng: random.Random) -> str:
    return "----=_Part_" + "".join(rng.choice(string.digits) for _ in range(16))


Body = tuple[str, bytes]  # (MIME headers of the top-level entity, body bytes)


def _plain_body(rng: random.Random, size: int) -> Body:
    return (
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit",
        _text(rng, size).encode(),
    )


def _alternative_body(rng: random.Random, plain: str, html: str) -> Body:
    b = _boundary(rng)
    body = (
        f"--{b}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n"
        f"{plain}\n--{b}\nContent-Type: text/html; charset=utf-8\n"
        f"Content-Transfer-Encoding: 7bit\n\n{html}\n--{b}--\n"
    )
    return f'Content-Type: multipart/alternative; boundary="{b}"', body.encode()


def _html_body(rng: random.Random, size: int) -> Body:
    return _alternative_body(rng, _text(rng, size // 5), _html(rng, size * 4 // 5))


def _attachment_body(rng: random.Random, size: int) -> Body:
    b = _boundary(rng)
    blob = base64.encodebytes(rng.randbytes(size * 3 // 4)).decode()
    name = rng.choice(("report.pdf", "invoice.pdf", "photo.jpg", "slides.pptx", "data.xlsx"))
    body = (
        f"--{b}\nContent-Type: text/plain; charset=utf-8\n\n{_text(rng, rng.randint(300, 2000))}"
        f"\n--{b}\nContent-Type: application/octet-stream; name={name}\n"
        f"Content-Disposition: attachment; filename={name}\n"
        f"Content-Transfer-Encoding: base64\n\n{blob}--{b}--\n"
    )
    return f'Content-Type: multipart/mixed; boundary="{b}"', body.encode()


def _sf_body(rng: random.Random) -> Body:
    text = (
        "Hello,\n\n" + _text(rng, rng.randint(800, 3000)) + "\nThanks,\nSalesforce\n\n"
        "Salesforce, Inc. Salesforce Tower, 415 Mission Street, San Francisco, CA 94105\n"
    )
    if rng.random() < 0.5:
        return _plain_body_text(text)
    return _alternative_body(rng, text, "<html><body><p>" + text.replace("\n", "<br>") + "</p>")


def _plain_body_text(text: str) -> Body:
    return (
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit",
        text.encode(),
    )


class _Pools:
    """A fixed set of bodies per kind, built once per seed."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed * 7919 + 1)
        self.plain = [_plain_body(rng, rng.randint(1500, 8000)) for _ in range(POOL)]
        self.html = [_html_body(rng, rng.randint(8000, 60000)) for _ in range(POOL)]
        self.attach = [_attachment_body(rng, rng.randint(20000, 100000)) for _ in range(POOL)]
        self.sf = [_sf_body(rng) for _ in range(POOL)]

    def mean_size(self) -> float:
        def avg(pool: list[Body]) -> float:
            return sum(len(h) + len(b) for h, b in pool) / len(pool)

        other = 1 - P_SF - P_VERIFY
        p_plain = other * (1 - P_ATTACH - P_HTML)
        mean_body = (
            p_plain * avg(self.plain)
            + other * P_HTML * avg(self.html)
            + other * P_ATTACH * avg(self.attach)
            + P_SF * avg(self.sf)
            + P_VERIFY * 200
        )
        return mean_body + 1100  # headers, From_ line, separator


def _token_body(rng: random.Random, token: str, username: str) -> Body:
    plain = (
        "We've sent you a new Salesforce security token because you recently changed your "
        "password\nor requested to reset your security token. Use this updated security "
        "token with API or\ndesktop clients that require it.\n\n"
        f"Username: {username}\nSecurity token (case-sensitive): {token}\n\n"
        "For more information on using your security token, see Reset Your Security Token at\n"
        "https://help.salesforce.com/HTViewHelpDoc?id=user_security_token.htm.\n\n"
        "Thanks,\nSalesforce\n"
    )
    if rng.random() < 0.3:
        return _plain_body_text(plain)
    html = (
        '<html><body><table width="100%"><tr><td style="padding:24px">We&#39;ve sent you a '
        "new Salesforce security token because you recently changed your password or "
        "requested to reset your security token.<br><br></td></tr>"
        f'<tr><td style="padding:0 24px"><b>Username:</b> {username}<br>'
        f"<b>Security token (case-sensitive):</b> <span>{token[:8]}</span><span>{token[8:]}"
        "</span></td></tr><tr><td>Thanks,<br>Salesforce</td></tr></table></body></html>\n"
    )
    return _alternative_body(rng, plain, html)


def _verify_body(rng: random.Random, username: str) -> Body:
    code = rng.randint(100000, 999999)
    return _plain_body_text(
        f"You're trying to log in to Salesforce.\n\nUsername: {username}\n"
        f"Verification Code: {code}\n\nIf you didn't try to log in, contact your admin.\n"
    )


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One generated message: kind, delivery time, raw bytes (``\\n`` line ends)."""

    kind: str  # plain, html, attach, sf, sf-token-subject, verify, token
    delivered: datetime
    date: datetime
    envelope: str
    raw: bytes


@dataclass(frozen=True)
class _Layout:
    count: int
    token_at: dict[int, tuple[str, str]]  # index -> (token, username)
    newest_index: int
    forced: dict[int, str]


def _layout(rng: random.Random, count: int, newest_at: float | None = None) -> _Layout:
    """Where the token mails go; ``newest_at`` (0-1) puts the newest one at that fraction of
    the timeline (default: count/200 messages before the end)."""
    newest = max(0, count - 1 - max(2, count // 200))
    if newest_at is not None:
        newest = min(newest, int((count - 1) * newest_at))
    n_tokens = count // 500 + 3
    positions = sorted(rng.sample(range(max(1, newest)), min(n_tokens - 1, max(0, newest))))
    token_at: dict[int, tuple[str, str]] = {}
    for i in positions:
        token = "".join(rng.choice(ALPHABET) for _ in range(rng.choice((24, 25, 25, 25))))
        token_at[i] = (token, rng.choice(USERNAMES))
    token_at[newest] = ("".join(rng.choice(ALPHABET) for _ in range(25)), NEWEST_USERNAME)
    forced = {}
    if newest + 1 < count - 1:
        forced[newest + 1] = "sf"
    if newest + 2 < count - 1:
        forced[newest + 2] = "verify"
    return _Layout(count, token_at, newest, forced)


def _headers(
    rng: random.Random,
    i: int,
    sender: str,
    display: str,
    subject: str,
    date: datetime,
    delivered: datetime,
    mime: str,
    sf: bool,
) -> str:
    domain = sender.rpartition("@")[2]
    relay = f"smtp{rng.randint(1, 40):02d}.{domain}"
    ip = f"{rng.randint(11, 200)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    recv = format_datetime(delivered)
    auth = (
        f"Authentication-Results: mx.google.com;\n       dkim=pass header.i=@{domain};\n"
        f"       spf=pass smtp.mailfrom={domain};\n       dmarc=pass (p=REJECT) "
        f"header.from={domain}\n"
    )
    sf_extra = "X-SFDC-LK: 00D5e0000007C03\nX-Sender: postmaster@salesforce.com\n" if sf else ""
    return (
        f"Return-Path: <bounce-{i}@{domain}>\n"
        f"Delivered-To: dana@example.com\n"
        f"Received: by 2002:a05:6a10:{i % 65536:x} with SMTP id x{i}; {recv}\n"
        f"Received: from {relay} ({relay} [{ip}])\n        by mx.google.com with ESMTPS id "
        f"{i:x}.{rng.randint(1000, 9999)}\n        for <dana@example.com>; {recv}\n"
        f"{auth}"
        f"From: {display} <{sender}>\nTo: dana@example.com\nSubject: {subject}\n"
        f"Date: {format_datetime(date)}\nMessage-ID: <{i}.{rng.getrandbits(48):x}@{domain}>\n"
        f"MIME-Version: 1.0\n{sf_extra}{mime}\n\n"
    )


def iter_messages(
    count: int, seed: int, pools: _Pools | None = None, newest_at: float | None = None
) -> Iterator[Message]:
    """The ``count`` messages of a mailbox, oldest delivery first (deterministic per seed)."""
    rng = random.Random(seed)
    pools = pools or _Pools(seed)
    layout = _layout(rng, count, newest_at)
    start = END - SPAN
    step = SPAN / max(1, count)
    for i in range(count):
        delivered = (start + step * i + step * rng.random() * 0.5).replace(microsecond=0)
        date = delivered - timedelta(seconds=rng.randint(5, 300))
        n = rng.randint(1, 9_999_999)
        n3 = n % 1000
        if i in layout.token_at:
            token, username = layout.token_at[i]
            kind = "token"
            sender, display = rng.choice(
                (("support@salesforce.com", "Salesforce"), ("noreply@salesforce.com", "Salesforce"))
            )
            subject = (
                "Your new Salesforce security token"
                if i == layout.newest_index or rng.random() < 0.8
                else "Sandbox: Your new Salesforce security token"
            )
            mime, body = _token_body(rng, token, username)
        else:
            kind = layout.forced.get(i) or _draw_kind(rng)
            if kind in ("sf", "sf-token-subject"):
                if rng.random() < 0.05:
                    kind = "sf-token-subject"
                    sender, subject = _SF_TOKEN_SUBJECT
                else:
                    sender, subject = rng.choice(_SF_SUBJECTS)
                display = "Salesforce"
                mime, body = rng.choice(pools.sf)
            elif kind == "verify":
                sender, display = "noreply@salesforce.com", "Salesforce"
                subject = "Verify your identity in Salesforce"
                mime, body = _verify_body(rng, rng.choice(USERNAMES))
            else:
                sender = rng.choice(_OTHER_SENDERS)
                display = sender.partition("@")[0].title()
                subject = rng.choice(_OTHER_SUBJECTS)
                pool = {"plain": pools.plain, "html": pools.html, "attach": pools.attach}[kind]
                mime, body = rng.choice(pool)
            subject = subject.format(n=n, n3=n3)
        head = _headers(
            rng,
            i,
            sender,
            display,
            subject,
            date,
            delivered,
            mime,
            sf=kind in ("token", "sf", "sf-token-subject", "verify"),
        )
        yield Message(kind, delivered, date, sender, head.encode() + body)


def _draw_kind(rng: random.Random) -> str:
    x = rng.random()
    if x < P_SF:
        return "sf"
    if x < P_SF + P_VERIFY:
        return "verify"
    y = rng.random()
    if y < P_ATTACH:
        return "attach"
    if y < P_ATTACH + P_HTML:
        return "html"
    return "plain"


def expected(count: int, seed: int, newest_at: float | None = None) -> tuple[str, str, int]:
    """(token, username, index) of the newest token mail, without generating the mailbox."""
    layout = _layout(random.Random(seed), count, newest_at)
    token, username = layout.token_at[layout.newest_index]
    return token, username, layout.newest_index


# --- writers ----------------------------------------------------------------------------------


def _asctime(when: datetime) -> str:
    return when.strftime("%a %b ") + f"{when.day:2d}" + when.strftime(" %H:%M:%S %Y")


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _load_meta(path: Path) -> Meta | None:
    meta = _meta_path(path)
    if not meta.exists() or not path.exists():
        return None
    data = json.loads(meta.read_text())
    if data.get("version") != GEN_VERSION:
        return None
    return Meta(**data)


def _finish(
    path: Path, kind: str, seed: int, count: int, size: int, stats: dict[str, int], date: str
) -> Meta:
    token, username, index = expected(count, seed)
    meta = Meta(
        kind=kind,
        path=str(path),
        seed=seed,
        count=count,
        bytes=size,
        token=token,
        username=username,
        token_index=index,
        token_date=date,
        token_mails=stats.get("token", 0),
        sf_notifications=stats.get("sf", 0) + stats.get("sf-token-subject", 0),
    )
    _meta_path(path).write_text(json.dumps(asdict(meta), indent=1) + "\n")
    return meta


def ensure_mbox(size: int, seed: int = 1, *, quiet: bool = False) -> Meta:
    """An mbox of about ``size`` bytes (generated once, then reused)."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"mbox-{size_label(size)}-seed{seed}-v{GEN_VERSION}.mbox"
    meta = _load_meta(path)
    if meta is not None:
        return meta
    pools = _Pools(seed)
    count = max(20, int(size / pools.mean_size()))
    _say(quiet, f"generating {path} ({count} messages, ~{size_label(size)}) ...")
    started = time.monotonic()
    tmp = path.with_name(path.name + ".tmp")
    stats: dict[str, int] = {}
    written = 0
    index = expected(count, seed)[2]
    token_date = ""
    with tmp.open("wb", buffering=1 << 22) as fh:
        for i, msg in enumerate(iter_messages(count, seed, pools)):
            stats[msg.kind] = stats.get(msg.kind, 0) + 1
            if i == index:
                token_date = msg.date.isoformat()
            line = f"From {msg.envelope} {_asctime(msg.delivered)}\n".encode()
            written += fh.write(line + msg.raw + b"\n")
    os.replace(tmp, path)
    _say(quiet, f"  {written / (1 << 20):.0f} MiB in {time.monotonic() - started:.1f}s")
    return _finish(path, "mbox", seed, count, written, stats, token_date)


def ensure_maildir(count: int, seed: int = 1, *, quiet: bool = False) -> Meta:
    """A Maildir of ``count`` files named ``<epoch>.M<n>P<pid>.host:2,S`` (reused once made)."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"maildir-{count}-seed{seed}-v{GEN_VERSION}"
    meta = _load_meta(path)
    if meta is not None:
        return meta
    _say(quiet, f"generating {path} ({count} files) ...")
    started = time.monotonic()
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        _rmtree(tmp)
    for sub in ("cur", "new", "tmp"):
        (tmp / sub).mkdir(parents=True)
    stats: dict[str, int] = {}
    written = 0
    n_new = max(1, count // 1000)  # the newest few are still in new/ (no info suffix)
    index = expected(count, seed)[2]
    token_date = ""
    for i, msg in enumerate(iter_messages(count, seed)):
        stats[msg.kind] = stats.get(msg.kind, 0) + 1
        if i == index:
            token_date = msg.date.isoformat()
        epoch = int(msg.delivered.timestamp())
        base = f"{epoch}.M{i}P4242.bench"
        name = f"new/{base}" if i >= count - n_new else f"cur/{base}:2,S"
        file = tmp / name
        file.write_bytes(msg.raw)
        os.utime(file, (epoch, epoch))
        written += len(msg.raw)
    os.replace(tmp, path)
    _say(quiet, f"  {written / (1 << 20):.0f} MiB in {time.monotonic() - started:.1f}s")
    return _finish(path, "maildir", seed, count, written, stats, token_date)


def ensure_empty_maildir() -> Path:
    """An empty Maildir (cur/, new/, tmp/) for the start-up benchmark."""
    path = BENCH_DIR / "maildir-empty"
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def _rmtree(path: Path) -> None:
    for sub in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if sub.is_dir():
            sub.rmdir()
        else:
            sub.unlink()
    path.rmdir()


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """CLI: generate (or find) a fixture and print its metadata as JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=("mbox", "maildir", "corpus"))
    ap.add_argument("--size", type=parse_size, default=parse_size("20M"), help="mbox size")
    ap.add_argument("--count", type=int, default=1000, help="Maildir files / corpus messages")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.what == "mbox":
        print(json.dumps(asdict(ensure_mbox(args.size, args.seed)), indent=1))
    elif args.what == "maildir":
        print(json.dumps(asdict(ensure_maildir(args.count, args.seed)), indent=1))
    else:
        kinds: dict[str, list[int]] = {}
        for msg in iter_messages(args.count, args.seed):
            kinds.setdefault(msg.kind, []).append(len(msg.raw))
        for kind, sizes in sorted(kinds.items()):
            print(f"{kind:18} {len(sizes):7d}  mean {sum(sizes) / len(sizes) / 1024:7.1f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
