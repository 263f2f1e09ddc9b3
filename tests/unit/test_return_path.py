"""Return-path and unsubscribe tokens: made with the server's secret, refused when forged."""

from __future__ import annotations

import pytest

from app.rules.return_path import (
    MessageToken,
    TokenPurpose,
    make_token,
    read_address,
    read_token,
    return_path_domain,
    token_address,
)
from app.services.secrets import RETURN_PATH_SECRET, server_secret
from data.db import session_scope

SECRET = b"a secret only the server knows"


def test_a_token_names_its_message_and_purpose():
    token = make_token(SECRET, TokenPurpose.BOUNCE, 4711)
    assert token.startswith("b-4711-")
    assert read_token(SECRET, token) == MessageToken(TokenPurpose.BOUNCE, 4711)
    # Receiving servers may change the case of a local part.
    assert read_token(SECRET, token.upper()) == MessageToken(TokenPurpose.BOUNCE, 4711)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda t: t.replace("-4711-", "-4712-"), id="another message"),
        pytest.param(lambda t: "u" + t[1:], id="another purpose"),
        pytest.param(lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"), id="one mac letter"),
        pytest.param(lambda t: t[:-2], id="shortened mac"),
        pytest.param(lambda t: t.replace("-4711-", "-04711-"), id="leading zero"),
        pytest.param(lambda t: t.rsplit("-", 1)[0], id="no mac"),
        pytest.param(lambda t: t + "-extra", id="extra part"),
        pytest.param(lambda t: "x" + t[1:], id="unknown purpose"),
        pytest.param(lambda t: t.replace("4711", "٤٧١١"), id="non-ascii digits"),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_forged_or_altered_tokens_are_refused(forge):
    token = make_token(SECRET, TokenPurpose.BOUNCE, 4711)
    assert read_token(SECRET, forge(token)) is None


def test_a_token_made_with_another_secret_is_refused():
    token = make_token(b"someone else's secret", TokenPurpose.BOUNCE, 4711)
    assert read_token(SECRET, token) is None


def test_addresses_carry_tokens_on_the_return_path_domain():
    assert return_path_domain(None, "Offers.Bolt.Example") == "bounces.offers.bolt.example"
    assert return_path_domain("rp.mailpools.example", "bolt.example") == "rp.mailpools.example"
    assert return_path_domain("{domain}.rp.example", "bolt.example") == "bolt.example.rp.example"
    address = token_address(SECRET, TokenPurpose.UNSUBSCRIBE, 9, "bounces.bolt.example")
    assert address.endswith("@bounces.bolt.example") and len(address.split("@")[0]) <= 64
    assert read_address(SECRET, f"<{address}>") == MessageToken(TokenPurpose.UNSUBSCRIBE, 9)
    # An unsubscribe token is no bounce address, and a plain address names nothing.
    assert read_address(SECRET, address, TokenPurpose.BOUNCE) is None
    assert read_address(SECRET, "postmaster@bounces.bolt.example") is None
    assert read_address(SECRET, "no-at-sign") is None


def test_the_stored_secret_is_made_once_and_then_kept(engine):
    with session_scope(engine) as session:
        first = server_secret(session, RETURN_PATH_SECRET)
    with session_scope(engine) as session:
        again = server_secret(session, RETURN_PATH_SECRET)
        other = server_secret(session, "something else")
    assert first == again and len(first) >= 32
    assert other != first
