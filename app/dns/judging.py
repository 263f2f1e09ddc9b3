"""What the records found in DNS mean for a sending domain or IP: pure rules, no lookups.

Each judge takes what was found (already looked up, and already parsed by the
field's library where one exists: checkdmarc for SPF and DMARC, dkimpy for a
DKIM key record) and says whether receivers will be content, in one `Check`:
its state, the record found, the record expected, and a fix an owner can paste
into a DNS provider. A lookup that could not be made is `could_not_check`,
never "missing" and never "listed".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# RFC 7208 4.6.4: more DNS-querying terms than this make the SPF check fail.
SPF_LOOKUP_LIMIT = 10
# What DNSBLs answer when they refuse or cannot answer a query (e.g. Spamhaus for a
# public resolver or an over-quota user): not a listing.
DNSBL_NOT_ANSWERED = {
    "127.255.255.252": "the query was malformed or its zone is misspelt",
    "127.255.255.254": "the list refuses queries from public or open resolvers",
    "127.255.255.255": "the list refused the query (rate limit or no access)",
}


class CheckState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILING = "failing"
    ERROR = "error"  # could not check: the lookup failed, nothing is known


@dataclass(frozen=True)
class Check:
    """One check of one domain or IP: what receivers would make of it."""

    name: str
    state: CheckState
    summary: str
    found: str = ""
    expected: str = ""
    fix: str = ""
    # Facts scripts read (a DNSBL's zone, answer and reason; whether a PTR is confirmed).
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": str(self.state),
            "summary": self.summary,
            "found": self.found,
            "expected": self.expected,
            "fix": self.fix,
            **self.details,
        }


def could_not_check(name: str, reason: str) -> Check:
    return Check(name, CheckState.ERROR, f"could not check: {reason}")


# SPF ------------------------------------------------------------------------------------


def spf_expected(include: str | None, sending_ips: Iterable[str]) -> str:
    if include:
        return f"v=spf1 include:{include} -all"
    terms = " ".join(_ip_term(ip) for ip in sorted(sending_ips))
    return f"v=spf1 {terms} -all" if terms else "v=spf1 -all"


def _ip_term(address: str) -> str:
    return f"ip6:{address}" if ":" in address else f"ip4:{address}"


def _authorized_networks(parsed: Mapping[str, Any]) -> list[ipaddress._BaseNetwork]:
    """Every network an SPF record parsed by checkdmarc lets send, through includes too."""
    networks: list[ipaddress._BaseNetwork] = []
    for mechanism in parsed.get("mechanisms", []):
        if mechanism.get("action") != "pass":
            continue
        kind = mechanism.get("mechanism")
        if kind in ("ip4", "ip6"):
            networks.append(ipaddress.ip_network(mechanism["value"], strict=False))
        elif kind == "include" and isinstance(mechanism.get("parsed"), Mapping):
            networks.extend(_authorized_networks(mechanism["parsed"]))
        for address in mechanism.get("addresses", []) or []:
            networks.append(ipaddress.ip_network(address, strict=False))
    redirect = parsed.get("redirect")
    if isinstance(redirect, Mapping) and isinstance(redirect.get("parsed"), Mapping):
        networks.extend(_authorized_networks(redirect["parsed"]))
    return networks


def _all_term(parsed: Mapping[str, Any]) -> str | None:
    qualifiers = {"pass": "+all", "fail": "-all", "softfail": "~all", "neutral": "?all"}
    return qualifiers.get(str(parsed.get("all")))


def judge_spf(
    domain: str,
    records: list[str],
    parsed: Mapping[str, Any] | None,
    parse_error: str | None,
    sending_ips: list[str],
    include: str | None,
) -> Check:
    """RECORDS are the domain's v=spf1 TXT records; PARSED is checkdmarc's reading of the
    one record, its count of lookups and its terms (None when there is not exactly one
    record, or it could not be parsed)."""
    expected = spf_expected(include, sending_ips)
    fix = f"Publish one TXT record at {domain}: {expected}"
    if not records:
        return Check("spf", CheckState.FAILING, "no SPF record", "", expected, fix)
    found = " | ".join(records)
    if len(records) > 1:
        return Check(
            "spf",
            CheckState.FAILING,
            f"{len(records)} SPF records: receivers treat that as an error",
            found,
            expected,
            f"Merge them into one TXT record at {domain}: {expected}",
        )
    if parsed is None:
        return Check("spf", CheckState.FAILING, f"unreadable: {parse_error}", found, expected, fix)
    lookups = int(parsed.get("dns_lookups") or 0)
    if lookups > SPF_LOOKUP_LIMIT:
        return Check(
            "spf",
            CheckState.FAILING,
            f"{lookups} DNS-querying terms, more than the {SPF_LOOKUP_LIMIT} receivers follow",
            found,
            expected,
            fix,
        )
    terms = parsed.get("parsed", {})
    ending = _all_term(terms)
    if ending == "+all":
        return Check(
            "spf", CheckState.FAILING, "+all lets anyone send as this domain", found, expected, fix
        )
    networks = _authorized_networks(terms)
    missing = [
        ip
        for ip in sending_ips
        if not any(ipaddress.ip_address(ip) in network for network in networks)
    ]
    if missing:
        return Check(
            "spf",
            CheckState.FAILING,
            f"does not authorize {', '.join(missing)}",
            found,
            expected,
            fix,
        )
    if ending not in ("-all", "~all"):
        return Check(
            "spf",
            CheckState.WARNING,
            f"ends with {ending or 'no all term'}: other senders are neither refused nor marked",
            found,
            expected,
            fix,
        )
    return Check("spf", CheckState.OK, f"authorizes the sending IPs, ends with {ending}", found)


# DKIM -----------------------------------------------------------------------------------


def dkim_public_key(record: str) -> str | None:
    """The p= value of a DKIM key record read with dkimpy; None when it has no readable p=."""
    # Imported here: dkimpy takes a fifth of a second to import, and the console reads
    # stored results without judging any record.
    from dkim.util import InvalidTagValueList, parse_tag_value

    try:
        tags = parse_tag_value(record.encode())
    except InvalidTagValueList:
        return None
    key = tags.get(b"p")
    return "".join(key.decode("ascii", "replace").split()) if key is not None else None


def judge_dkim(
    name: str, record_name: str, records: list[str], public_key: str, *, pending: bool
) -> Check:
    """RECORDS are the TXT records at RECORD_NAME, each with its strings joined."""
    expected = f"v=DKIM1; k=rsa; p={public_key}"
    fix = f"Publish a TXT record at {record_name}: {expected}"
    found = " | ".join(records)
    details = {"selector": record_name.split(".", 1)[0], "record_name": record_name}
    if not records:
        if pending:
            return Check(
                name,
                CheckState.WARNING,
                f"new key not published at {record_name} yet; mail stays signed with the old one",
                "",
                expected,
                fix,
                details,
            )
        return Check(
            name,
            CheckState.FAILING,
            f"no key record at {record_name}",
            "",
            expected,
            fix,
            details,
        )
    keys = [dkim_public_key(record) for record in records]
    if public_key in keys:
        return Check(name, CheckState.OK, f"key published at {record_name}", found, "", "", details)
    if "" in keys:
        summary = f"the key at {record_name} is revoked (empty p=)"
    elif all(key is None for key in keys):
        summary = f"the record at {record_name} is not a DKIM key record"
    else:
        summary = f"the record at {record_name} holds another key"
    return Check(name, CheckState.FAILING, summary, found, expected, fix, details)


# DMARC ----------------------------------------------------------------------------------


def dmarc_expected(domain: str) -> str:
    return f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{domain}"


def _aligned(
    identifier: str, from_domain: str, mode: str, organizational: Mapping[str, str]
) -> bool:
    if mode == "s":
        return identifier == from_domain
    return organizational.get(identifier, identifier) == organizational.get(
        from_domain, from_domain
    )


def judge_dmarc(
    domain: str,
    record_name: str,
    records: list[str],
    tags: Mapping[str, Any] | None,
    parse_error: str | None,
    return_path_domain: str,
    organizational: Mapping[str, str],
) -> Check:
    """TAGS are checkdmarc's reading of the one record found at RECORD_NAME (the domain's
    _dmarc or its organizational domain's). Mail is signed with d=DOMAIN and sent with a
    return path at RETURN_PATH_DOMAIN; ORGANIZATIONAL maps a name to its registered domain."""
    expected = dmarc_expected(domain)
    fix = f"Publish one TXT record at _dmarc.{domain}: {expected}"
    if not records:
        return Check("dmarc", CheckState.FAILING, "no DMARC record", "", expected, fix)
    found = " | ".join(records)
    if len(records) > 1:
        return Check(
            "dmarc",
            CheckState.FAILING,
            f"{len(records)} DMARC records at {record_name}: receivers ignore them all",
            found,
            expected,
            fix,
        )
    if tags is None:
        return Check(
            "dmarc", CheckState.FAILING, f"unreadable: {parse_error}", found, expected, fix
        )

    def tag(name: str, default: str) -> str:
        value = tags.get(name, {})
        return str(value.get("value", default)) if isinstance(value, Mapping) else default

    policy = tag("p", "none")
    dkim_aligned = _aligned(domain, domain, tag("adkim", "r"), organizational)
    spf_aligned = _aligned(return_path_domain, domain, tag("aspf", "r"), organizational)
    alignment = (
        f"DKIM {'aligned' if dkim_aligned else 'not aligned'}, "
        f"SPF {'aligned' if spf_aligned else 'not aligned'}"
    )
    details = {"policy": policy, "dkim_aligned": dkim_aligned, "spf_aligned": spf_aligned}
    if not (dkim_aligned or spf_aligned):
        return Check(
            "dmarc",
            CheckState.FAILING,
            f"p={policy}; {alignment}",
            found,
            expected,
            fix,
            details,
        )
    if policy == "none":
        return Check(
            "dmarc",
            CheckState.WARNING,
            f"p=none only reports: mailbox providers require an enforced DMARC policy from "
            f"bulk senders; {alignment}",
            found,
            expected,
            f"Change the TXT record at {record_name} to: {expected}",
            details,
        )
    return Check("dmarc", CheckState.OK, f"p={policy}; {alignment}", found, "", "", details)


# Return path and MX ----------------------------------------------------------------------


def judge_return_path(
    return_path_domain: str, cnames: list[str], exchanges: list[str], inbound_host: str | None
) -> Check:
    """Whether bounces sent to RETURN_PATH_DOMAIN reach the inbound listener at INBOUND_HOST
    (unset: only whether they reach a mail server at all)."""
    target = inbound_host or "the inbound listener's host"
    expected = f"{return_path_domain} CNAME {target}"
    fix = f"Add a CNAME record at {return_path_domain} pointing to {target}"
    found = "; ".join([f"CNAME {c}" for c in cnames] + [f"MX {e}" for e in exchanges])
    if not cnames and not exchanges:
        return Check(
            "return-path",
            CheckState.FAILING,
            f"{return_path_domain} has no CNAME or MX: bounces cannot come back",
            "",
            expected,
            fix,
        )
    if inbound_host is None:
        return Check(
            "return-path",
            CheckState.OK,
            f"{return_path_domain} receives mail (set the inbound host to check where)",
            found,
        )
    host = inbound_host.lower().rstrip(".")
    if host in {name.lower().rstrip(".") for name in cnames + exchanges}:
        return Check("return-path", CheckState.OK, f"reaches {host}", found)
    return Check(
        "return-path",
        CheckState.FAILING,
        f"{return_path_domain} points elsewhere, not at {host}",
        found,
        expected,
        fix,
    )


def judge_mx(domain: str, exchanges: list[tuple[int, str]]) -> Check:
    expected = f"{domain} MX 10 <your mail server>"
    fix = f"Add an MX record at {domain} for the server that takes replies to your mail"
    if not exchanges:
        return Check(
            "mx", CheckState.FAILING, "no MX record: replies cannot be delivered", "", expected, fix
        )
    found = ", ".join(f"{preference} {host}" for preference, host in sorted(exchanges))
    if len(exchanges) == 1 and exchanges[0][1] in ("", "."):
        return Check(
            "mx", CheckState.FAILING, "null MX: the domain refuses all mail", found, expected, fix
        )
    return Check("mx", CheckState.OK, f"{len(exchanges)} mail server(s)", found)


# Sending IPs ----------------------------------------------------------------------------


def judge_ptr(
    address: str, ehlo_hostname: str, names: list[str], forward: Mapping[str, list[str]]
) -> Check:
    """NAMES are the PTR records of ADDRESS; FORWARD the addresses each name resolves to."""
    expected = f"PTR {ehlo_hostname}, and {ehlo_hostname} A {address}"
    names = [name.lower().rstrip(".") for name in names]
    confirmed = [name for name in names if address in forward.get(name, [])]
    details = {"ptr": names, "forward_confirmed": bool(confirmed)}
    found = ", ".join(names)
    if not names:
        return Check(
            "ptr",
            CheckState.FAILING,
            "no PTR record: many receivers refuse mail from such IPs",
            "",
            expected,
            f"Ask whoever holds {address} to set its PTR to {ehlo_hostname}",
            details,
        )
    if not confirmed:
        return Check(
            "ptr",
            CheckState.FAILING,
            f"{found} does not resolve back to {address}",
            found,
            expected,
            f"Add an A record: {ehlo_hostname} A {address}",
            details,
        )
    if ehlo_hostname.lower().rstrip(".") not in confirmed:
        return Check(
            "ptr",
            CheckState.WARNING,
            f"forward-confirmed as {confirmed[0]}, but the sender says EHLO {ehlo_hostname}",
            found,
            expected,
            f"Set the PTR of {address} to {ehlo_hostname}, or change its hostname to {confirmed[0]}",
            details,
        )
    return Check(
        "ptr", CheckState.OK, f"forward-confirmed as {confirmed[0]}", found, "", "", details
    )


def dnsbl_check_name(zone: str) -> str:
    return f"dnsbl:{zone}"


def judge_dnsbl(address: str, zone: str, answers: list[str], reasons: list[str]) -> Check:
    """ANSWERS are the A records at the address's name in ZONE (none: not listed)."""
    name = dnsbl_check_name(zone)
    reason = " ".join(reasons)
    answer = ", ".join(answers)
    details = {"zone": zone, "answer": answer, "reason": reason, "listed": False}
    if not answers:
        return Check(name, CheckState.OK, f"not listed on {zone}", "", "", "", details)
    refusals = [DNSBL_NOT_ANSWERED[answer] for answer in answers if answer in DNSBL_NOT_ANSWERED]
    if refusals:
        return Check(
            name,
            CheckState.ERROR,
            f"could not check: {zone} answered {answer} ({refusals[0]})",
            answer,
            "",
            "",
            details,
        )
    because = f": {reason}" if reason else ""
    return Check(
        name,
        CheckState.FAILING,
        f"listed on {zone} ({answer}){because}",
        answer,
        "not listed",
        f"Find why {address} was listed, stop the cause, then ask {zone} to delist it",
        {**details, "listed": True},
    )


def worst(checks: Iterable[Check]) -> CheckState:
    order = [CheckState.OK, CheckState.WARNING, CheckState.ERROR, CheckState.FAILING]
    states = [check.state for check in checks]
    return max(states, key=order.index) if states else CheckState.OK
