"""The SMTP servers read MAIL and RCPT addresses as aiosmtpd does: the quick reading of
the plain form gives exactly what the email package's parser gives, and anything else
goes to the parser."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.smtp.server import _plain_angle_address, command_address, parsed_address

# Every character either reading treats specially, and ordinary ones around them.
_TRICKY = string.ascii_letters[:6] + string.digits[:3] + "@.<>\"()[]\\ \t,:;-_+=!#$%&'*/?^`{|}~é"


@settings(derandomize=True, deadline=None, max_examples=3000)
@given(
    st.one_of(
        st.text(alphabet=_TRICKY, max_size=30),
        st.builds(
            "<{}@{}>{}".format,
            st.text(alphabet=_TRICKY, min_size=1, max_size=12),
            st.text(alphabet=_TRICKY, min_size=1, max_size=12),
            st.text(alphabet=_TRICKY, max_size=12),
        ),
    )
)
def test_the_plain_reading_agrees_with_the_parser_wherever_it_answers(arg):
    plain = _plain_angle_address(arg)
    if plain is not None:
        assert plain == parsed_address(arg)


@pytest.mark.parametrize(
    ("arg", "reading"),
    [
        ("<dana@dest.test>", ("dana@dest.test", "")),
        ("<dana@dest.test> SIZE=2048 BODY=8BITMIME", ("dana@dest.test", "SIZE=2048 BODY=8BITMIME")),
        ("<first.last+tag@sub.dest.test>", ("first.last+tag@sub.dest.test", "")),
    ],
)
def test_the_plain_form_is_read_quickly(arg, reading):
    assert _plain_angle_address(arg) == reading == command_address(arg)


@pytest.mark.parametrize(
    ("arg", "reading"),
    [
        ('<"dana smith"@dest.test>', ('"dana smith"@dest.test', "")),
        ("<dana@[192.0.2.1]>", ("dana@[192.0.2.1]", "")),
        ("<dana@dest.test> (a comment) SIZE=10", ("dana@dest.test", "SIZE=10")),
        ("dana@dest.test", ("dana@dest.test", "")),
        ("<@relay.test:dana@dest.test>", ("dana@dest.test", "")),
        ("<dana@>", (None, None)),
    ],
)
def test_other_forms_go_to_the_parser(arg, reading):
    assert _plain_angle_address(arg) is None
    assert command_address(arg) == parsed_address(arg)
    assert command_address(arg) == reading
