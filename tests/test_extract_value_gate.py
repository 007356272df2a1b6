"""The extractor's first check — a token-shaped value must end some line — only skips work:
it passes every line a rule could take, and a body without one compiles no template."""

from __future__ import annotations

import re
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from inbox_finder.mail import extract as ex
from inbox_finder.mail.templates import TEMPLATES

TOKEN_CHARS = "abcXYZ0189"
# Characters IGNORECASE matching would treat as letters (Kelvin sign, long s, dotless i) and
# full-width forms: the rules must not be looser than the gate here.
ODD = "\u212a\u017f\u0131\u0130\uff21\uff11"
token_labels = st.sampled_from([lab for t in TEMPLATES for lab in t.token_labels]).flatmap(
    lambda pattern: st.from_regex(re.compile(pattern, re.IGNORECASE), fullmatch=True)
)
gaps = st.sampled_from(["", " ", "\t", "  ", "\u3000"])
tails = st.sampled_from(["", ".", "。"])
tokens = st.text(alphabet=TOKEN_CHARS, min_size=20, max_size=30)


def _taken_by_a_rule(line: str) -> bool:
    if ex._STRUCT_TOKEN.match(line) or re.fullmatch(ex.TOKEN + ex.TAIL, line):
        return True
    return any(ex._compile(t).token_line.match(line) for t in TEMPLATES)


@given(token_labels, gaps, gaps, tokens, tails)
def test_labelled_token_lines_pass_the_gate(
    label: str, before: str, after: str, token: str, tail: str
) -> None:
    line = f"{label}{before}:{after}{token}{tail}"
    assert _taken_by_a_rule(line), line  # built to be taken: the property is exercised
    assert ex._VALUE_AT_END.search(line), line


@given(tokens, tails)
def test_token_alone_on_a_line_passes_the_gate(token: str, tail: str) -> None:
    assert ex._VALUE_AT_END.search(token + tail)


@given(
    st.one_of(token_labels, st.text(max_size=12)),
    st.sampled_from([":", "", " :", "："]),
    gaps,
    st.text(alphabet=TOKEN_CHARS + ODD, min_size=15, max_size=36),
    st.sampled_from(["", ".", "。", " ", ".."]),
)
def test_every_line_a_rule_takes_passes_the_gate(
    label: str, colon: str, gap: str, value: str, tail: str
) -> None:
    line = f"{label}{colon}{gap}{value}{tail}"
    if _taken_by_a_rule(line):
        assert ex._VALUE_AT_END.search(line), line


def test_gate_is_not_trivially_open() -> None:
    assert not ex._VALUE_AT_END.search("Your token policy changed: see Setup")
    assert not ex._VALUE_AT_END.search("Security token: " + "a" * 31)
    assert ex._VALUE_AT_END.search("Security token (case-sensitive): " + "a1B2" * 6 + ".")


PROBE = """
from inbox_finder.mail.extract import _compile, extract
from inbox_finder.mail.parse import Headers, ParsedMessage, TextPart
body = {body!r}
found = extract(ParsedMessage(Headers(subject="Salesforce security token policy"),
                              (TextPart("plain", body), TextPart("html", body))))
print(found is None, _compile.cache_info().currsize)
"""


def _compiled_after(body: str) -> list[str]:
    code = PROBE.format(body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_notification_without_a_value_compiles_no_template() -> None:
    body = "Hello,\nThe Connected App refresh token policy changed.\nSecurity token: see Setup\n"
    assert _compiled_after(body) == ["True", "0"]


def test_english_token_mail_compiles_only_the_english_patterns() -> None:
    body = (
        "Username: dana@example.com\nSecurity token (case-sensitive): 4jEAKuW3a4g33x2zsX11BkrsB\n"
    )
    assert _compiled_after(body) == ["False", "1"]
