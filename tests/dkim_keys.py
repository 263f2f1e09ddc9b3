"""A few RSA keys made once per test process and handed out in turn to new domains."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric import rsa

from app.services.dkim import new_rsa_key

# More keys than the demo world has domains, so a rotation never gets its domain's own key.
KEY_COUNT = 9

_keys: list[rsa.RSAPrivateKey] = []
_turns: Iterator[int] = itertools.cycle(range(KEY_COUNT))


def reused_keys() -> rsa.RSAPrivateKey:
    while len(_keys) < KEY_COUNT:
        _keys.append(new_rsa_key())
    return _keys[next(_turns)]
