"""parse_mail gives what the email package's own parser gives, part for part and defect
for defect, on well-formed and broken multipart mail, without compiling a pattern per
boundary."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from app.feedback.parsing import parse_mail

FIXTURES = sorted((Path(__file__).parent.parent / "feedback_reports").glob("*.eml"))


def _shape(message: Message) -> tuple:
    """Everything the parser decides about MESSAGE and its parts."""
    payload = message.get_payload()
    return (
        message.items(),
        [type(defect).__name__ for defect in message.defects],
        message.preamble,
        message.epilogue,
        [_shape(part) for part in payload] if isinstance(payload, list) else payload,
    )


def _same_as_the_library(raw: bytes) -> None:
    assert _shape(parse_mail(raw)) == _shape(message_from_bytes(raw, policy=compat32))


# Boundaries with the characters a pattern would treat specially.
_BOUNDARY = st.text(alphabet="aZ09=_-.()[]{}?*+|^$\\&~# '/:,", min_size=1, max_size=20)
_ENDING = st.sampled_from(["\r\n", "\n", "\r"])


@st.composite
def _multipart_mail(draw) -> bytes:
    boundary = draw(_BOUNDARY)
    inner = draw(_BOUNDARY)
    ending = draw(_ENDING)
    # Lines a body may hold: delimiters, near-misses of them, a nested multipart's
    # header, part headers, text.
    line = st.sampled_from(
        [
            f"--{boundary}",
            f"--{boundary}--",
            f"--{boundary} \t",
            f"--{boundary}-- ",
            f"--{boundary}x",
            f"--{boundary}--x",
            f"-- {boundary}",
            f"{boundary}",
            f"--{inner}",
            f"--{inner}--",
            f'Content-Type: multipart/mixed; boundary="{inner}"',
            "Content-Type: message/delivery-status",
            "Content-Type: message/rfc822",
            "Content-Type: text/plain",
            "Status: 5.1.1",
            "Action: failed",
            "",
            "some text",
            " folded",
        ]
    )
    subtype = draw(st.sampled_from(["report", "mixed", "digest", "alternative"]))
    head = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"', "Subject: a report"]
    body = draw(st.lists(line, max_size=40))
    text = ending.join([*head, "", *body])
    if draw(st.booleans()):
        text += ending
    return text.encode("utf-8")


@settings(derandomize=True, deadline=None, max_examples=1500)
@given(_multipart_mail())
def test_generated_multipart_mail_parses_as_the_library_parses_it(raw):
    _same_as_the_library(raw)


def test_every_report_of_the_collection_parses_as_the_library_parses_it():
    assert len(FIXTURES) > 10
    for fixture in FIXTURES:
        _same_as_the_library(fixture.read_bytes())


def test_no_pattern_is_compiled_for_a_boundary():
    raw = (FIXTURES[0].parent / "dsn_no_such_user.eml").read_bytes()
    boundary = message_from_bytes(raw, policy=compat32).get_boundary()
    assert re.escape(boundary) != boundary  # so the check below must look for its escaped form
    with mock.patch("re.compile", wraps=re.compile) as compiled:
        message = parse_mail(raw)
    assert len(message.get_payload()) == 3
    patterns = [str(call.args[0]) for call in compiled.call_args_list]
    assert patterns and not [p for p in patterns if re.escape(boundary) in p]


def test_several_threads_parsing_at_once_get_the_library_parsers_messages():
    raws = [fixture.read_bytes() for fixture in FIXTURES] * 4
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda raw: _shape(parse_mail(raw)), raws))
    assert shapes == [_shape(message_from_bytes(raw, policy=compat32)) for raw in raws]
