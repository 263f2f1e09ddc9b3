"""Each sending domain's DKIM keys: made with the domain, shown for DNS, rotated, confirmed.

A domain has one active key, the one the sender signs with. A rotation makes
a pending key under a new selector; the sender goes on signing with the
active one until `confirm_rotation` finds the pending key's record in DNS,
and only then switches (the old key is retired, not deleted). Private keys
stay in the dkim_keys table: no view, summary or audit event carries one.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.services import audit
from app.services.audit import SYSTEM_ACTOR
from app.services.auth import require_account_access, require_staff
from app.services.lookups import get_domain
from app.services.outcomes import Outcome
from data.db import session_scope
from data.models import DkimKey, DkimKeyState, Domain, User, saved_id

KEY_BITS = 2048
SELECTOR_PREFIX = "mp"
# A TXT record is made of strings of at most 255 characters each (RFC 1035 3.3.14).
TXT_STRING_LIMIT = 255
DNS_LIFETIME_SECONDS = 5.0


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


_make_key: Callable[[], rsa.RSAPrivateKey] = new_rsa_key


@contextmanager
def keys_made_by(maker: Callable[[], rsa.RSAPrivateKey]) -> Iterator[None]:
    """Make new keys with MAKER until the block ends (tests hand out a few made once,
    since each fresh RSA key costs 50 to 100 ms)."""
    global _make_key
    previous = _make_key
    _make_key = maker
    try:
        yield
    finally:
        _make_key = previous


def _key_pair() -> tuple[str, str]:
    """A new key's PKCS#8 PEM and its public key as p= carries it."""
    key = _make_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(public).decode()


def record_text(public_key: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key}"


def record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def txt_strings(record: str) -> list[str]:
    """RECORD cut into the strings one TXT record holds."""
    return [record[i : i + TXT_STRING_LIMIT] for i in range(0, len(record), TXT_STRING_LIMIT)]


def _selector(day: date, taken: set[str]) -> str:
    """`mp` and the day; a second key made the same day gets a letter after it."""
    base = f"{SELECTOR_PREFIX}{day:%Y%m%d}"
    if base not in taken:
        return base
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if base + letter not in taken:
            return base + letter
    raise MailpoolsError("Too many DKIM keys were made today for this domain; try tomorrow.")


@dataclass(frozen=True)
class DkimRecord:
    """One key as DNS needs it: what to publish and where. Never the private key."""

    domain: str
    selector: str
    state: str
    name: str
    record: str

    def as_json(self) -> dict[str, str]:
        return {
            "domain": self.domain,
            "selector": self.selector,
            "state": self.state,
            "name": self.name,
            "record": self.record,
        }


def _view(domain: Domain, key: DkimKey) -> DkimRecord:
    return DkimRecord(
        domain=domain.name,
        selector=key.selector,
        state=key.state,
        name=record_name(key.selector, domain.name),
        record=record_text(key.public_key),
    )


@dataclass(frozen=True)
class DkimStatus:
    """A domain's keys: the one the sender signs with, and a rotation's if one waits."""

    active: DkimRecord
    pending: DkimRecord | None

    @property
    def to_publish(self) -> DkimRecord:
        return self.pending or self.active

    def as_json(self) -> dict[str, object]:
        return {
            **self.to_publish.as_json(),
            "signing_selector": self.active.selector,
            "keys": [k.as_json() for k in (self.active, self.pending) if k is not None],
        }


def _keys(session: Session, domain: Domain, state: DkimKeyState) -> list[DkimKey]:
    return list(
        session.exec(
            select(DkimKey)
            .where(DkimKey.domain_id == saved_id(domain))
            .where(DkimKey.state == state)
            .order_by(col(DkimKey.id))
        )
    )


def _add_key(
    session: Session,
    domain: Domain,
    state: DkimKeyState,
    actor: str,
    pair: tuple[str, str] | None = None,
) -> DkimKey:
    """A new key for DOMAIN in STATE: PAIR if given (made beforehand, outside the
    transaction), else one made now."""
    taken = set(
        session.exec(select(DkimKey.selector).where(DkimKey.domain_id == saved_id(domain))).all()
    )
    now = clock.now()
    pem, public = pair or _key_pair()
    key = DkimKey(
        domain_id=saved_id(domain),
        selector=_selector(now.date(), taken),
        private_key_pem=pem,
        public_key=public,
        state=state,
        created_at=now,
        activated_at=now if state == DkimKeyState.ACTIVE else None,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="dkim.created" if state == DkimKeyState.ACTIVE else "dkim.rotated",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        after={"selector": key.selector, "state": key.state},
    )
    return key


def create_domain_key(session: Session, domain: Domain, actor: str) -> DkimKey:
    """The new DOMAIN's first key, active at once: there is nothing older to sign with."""
    return _add_key(session, domain, DkimKeyState.ACTIVE, actor)


def _without_key(session: Session) -> list[Domain]:
    keyed = select(DkimKey.domain_id).where(DkimKey.state == DkimKeyState.ACTIVE)
    return list(
        session.exec(select(Domain).where(col(Domain.id).not_in(keyed)).order_by(col(Domain.id)))
    )


def add_missing_keys(session: Session, actor: str = SYSTEM_ACTOR) -> list[str]:
    """An active key for every domain that has none, in SESSION's transaction: domains made
    before keys existed, or whose keys `make_missing_keys` had not made yet."""
    missing = _without_key(session)
    for domain in missing:
        create_domain_key(session, domain, actor)
    return [domain.name for domain in missing]


def _pair_in_worker(_: int) -> tuple[str, str]:
    return _key_pair()


def make_missing_keys(
    engine: Engine,
    actor: str,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """An active key for every domain that has none, each stored in its own transaction
    and audited as ACTOR's; the names of the domains keyed. PROGRESS, if given, hears
    (keys stored so far, domains waiting) after each one.

    New domains are written without a key (`inventory.apply_inventory`): an RSA key
    costs 50 to 200 ms of CPU, which for thousands of domains would hold the inventory's
    transaction for minutes. Here keys are made outside any transaction, in WORKERS
    processes (default: one per core) when there are several to make, and each is
    stored as soon as it is made, so an interrupted run keeps what it made and the next
    run (or `mailpools db upgrade`) makes the rest. Until then the sender sends the
    domain's mail unsigned, as for any domain without a key.
    """
    with session_scope(engine) as session:
        waiting = [(saved_id(domain), domain.name) for domain in _without_key(session)]
    if not waiting:
        return []
    workers = workers or os.cpu_count() or 1
    made: list[str] = []

    def store(domain_id: int, pair: tuple[str, str]) -> None:
        with session_scope(engine) as session:
            domain = session.exec(
                select(Domain).where(Domain.id == domain_id).with_for_update()
            ).first()
            # Another run (or `db upgrade`) may have keyed it meanwhile: one active key each.
            if domain is None or _keys(session, domain, DkimKeyState.ACTIVE):
                return
            _add_key(session, domain, DkimKeyState.ACTIVE, actor, pair)
            made.append(domain.name)
        if progress is not None:
            progress(len(made), len(waiting))

    # Tests hand out ready-made keys through `keys_made_by`, which worker processes would
    # not see; and one key is not worth starting a process for.
    if workers > 1 and len(waiting) > 1 and _make_key is new_rsa_key:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(waiting)), mp_context=context) as pool:
            pairs = pool.map(_pair_in_worker, range(len(waiting)), chunksize=4)
            for (domain_id, _name), pair in zip(waiting, pairs, strict=True):
                store(domain_id, pair)
    else:
        for domain_id, _name in waiting:
            store(domain_id, _key_pair())
    return made


def _active_key(session: Session, domain: Domain) -> DkimKey:
    active = _keys(session, domain, DkimKeyState.ACTIVE)
    if not active:
        raise MailpoolsError(
            f"{domain.name} has no DKIM key yet: `mailpools inventory apply` makes new domains' "
            "keys once the file is applied, and `mailpools db upgrade` makes any still missing."
        )
    return active[-1]


def dkim_status(session: Session, reader: User | None, name: str) -> DkimStatus:
    """What to publish for domain NAME; its owners and staff may read it."""
    domain = get_domain(session, name)
    if reader is not None:
        require_account_access(reader, domain.account_id)
    pending = _keys(session, domain, DkimKeyState.PENDING)
    return DkimStatus(
        active=_view(domain, _active_key(session, domain)),
        pending=_view(domain, pending[-1]) if pending else None,
    )


def rotate(session: Session, actor: User, name: str) -> Outcome[DkimStatus]:
    """A new key under a new selector, pending until its record is published."""
    require_staff(actor, "rotate DKIM keys")
    domain = get_domain(session, name)
    active = _active_key(session, domain)
    waiting = _keys(session, domain, DkimKeyState.PENDING)
    if waiting:
        raise MailpoolsError(
            f"{domain.name} already has a new key waiting at "
            f"{record_name(waiting[-1].selector, domain.name)}; publish it and confirm it first."
        )
    key = _add_key(session, domain, DkimKeyState.PENDING, actor.name)
    status = DkimStatus(active=_view(domain, active), pending=_view(domain, key))
    return Outcome(
        status,
        f"Made DKIM key {key.selector} for {domain.name}: publish its TXT record at "
        f"{status.to_publish.name}, then confirm; until then mail is signed with {active.selector}.",
    )


def published_key(record_strings: list[str]) -> str | None:
    """The p= value of a DKIM TXT record (its strings joined), or None if it has none."""
    tags = {}
    for part in "".join(record_strings).split(";"):
        tag, equals, value = part.partition("=")
        if equals:
            tags[tag.strip()] = "".join(value.split())
    return tags.get("p") or None


def lookup_txt(name: str, nameserver: str | None) -> list[list[str]]:
    """The TXT records at NAME, each as its strings; NAMESERVER is HOST:PORT or None for
    the system's resolvers. A lookup that fails is refused in one sentence."""
    # Imported here: dnspython takes a fifth of a second to import (more with its DNS over
    # HTTPS client installed), and every command loads this module.
    import dns.exception
    import dns.resolver

    if nameserver:
        host, _, port = nameserver.rpartition(":")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host.strip("[]")]
        resolver.port = int(port)
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = DNS_LIFETIME_SECONDS
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
        raise MailpoolsError(f"Looking up the TXT record at {name} failed: {error}") from None
    return [[part.decode("ascii", "replace") for part in record.strings] for record in answer]


def confirm_rotation(
    session: Session, actor: User, name: str, published: list[list[str]]
) -> Outcome[DkimStatus]:
    """Sign with the pending key from now on, if PUBLISHED (the TXT records found at its
    name) holds its public key; otherwise refuse and leave the keys as they are."""
    require_staff(actor, "confirm DKIM keys")
    return _confirm(session, get_domain(session, name), actor.name, published)


def switch_when_published(session: Session, name: str, selector: str) -> str | None:
    """The DNS checks found the key SELECTOR of domain NAME published: if it is the key
    waiting, the system signs with it from now on. What was done in one sentence, or None
    when that key is not the one waiting."""
    domain = get_domain(session, name)
    waiting = _keys(session, domain, DkimKeyState.PENDING)
    if not waiting or waiting[-1].selector != selector:
        return None
    published = [txt_strings(record_text(waiting[-1].public_key))]
    return _confirm(session, domain, SYSTEM_ACTOR, published).summary


def _confirm(
    session: Session, domain: Domain, actor_name: str, published: list[list[str]]
) -> Outcome[DkimStatus]:
    waiting = _keys(session, domain, DkimKeyState.PENDING)
    if not waiting:
        raise MailpoolsError(f"{domain.name} has no new DKIM key waiting to be confirmed.")
    key = waiting[-1]
    old = _active_key(session, domain)
    where = record_name(key.selector, domain.name)
    found = [published_key(strings) for strings in published]
    if key.public_key not in found:
        seen = "no TXT record" if not published else "a record with another key"
        raise MailpoolsError(
            f"{where} has {seen}, not the new key; mail stays signed with {old.selector} "
            "until the record is published."
        )
    now = clock.now()
    old.state, old.retired_at = DkimKeyState.RETIRED, now
    key.state, key.activated_at = DkimKeyState.ACTIVE, now
    session.add(old)
    session.add(key)
    audit.record(
        session,
        actor=actor_name,
        action="dkim.confirmed",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        before={"selector": old.selector},
        after={"selector": key.selector},
    )
    session.flush()
    return Outcome(
        DkimStatus(active=_view(domain, key), pending=None),
        f"{domain.name} is now signed with {key.selector}; {old.selector} is retired and its "
        "record may be removed once mail signed with it has been delivered.",
    )
