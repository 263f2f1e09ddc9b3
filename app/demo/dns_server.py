"""A small authoritative DNS server on 127.0.0.1 (UDP): the demo's DNS, and the tests'.

It answers from a dict of records, so dnspython's real resolver does real
lookups: names it knows without the asked type get an empty answer (NoAnswer),
names it does not know get NXDOMAIN. Any type dnspython reads from text works
(MX, A, TXT, PTR, CNAME); a TXT value given without quotes is cut into strings
of 255 characters, as a DNS provider would. Names in SERVFAIL get that answer,
names in SILENT get none at all, and `silent=True` makes the whole server one
that never answers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

TXT_STRING_LIMIT = 255


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _quoted(value: str) -> str:
    if value.startswith('"'):
        return value
    parts = [value[i : i + TXT_STRING_LIMIT] for i in range(0, len(value), TXT_STRING_LIMIT)]
    return " ".join(f'"{part}"' for part in parts)


class LoopbackDns:
    def __init__(
        self,
        records: dict[tuple[str, str], list[str]],
        *,
        servfail: Iterable[str] = (),
        silent: Iterable[str] | bool = (),
    ) -> None:
        # {("dest.test", "MX"): ["10 mx.dest.test."], ("mx.dest.test", "A"): ["127.0.0.1"]}
        self.records = {
            (_absolute(name), rtype.upper()): [
                _quoted(value) if rtype.upper() == "TXT" else value for value in values
            ]
            for (name, rtype), values in records.items()
        }
        self.names = {name for name, _ in self.records}
        self.servfail = {_absolute(name) for name in servfail}
        self.silent_everywhere = silent is True
        self.silent = set() if isinstance(silent, bool) else {_absolute(n) for n in silent}
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.queries: list[tuple[str, str]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="loopback-dns", daemon=True)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                wire, peer = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().lower()
            rtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rtype))
            if self.silent_everywhere or name in self.silent:
                continue
            if name in self.servfail:
                response.set_rcode(dns.rcode.SERVFAIL)
                self.socket.sendto(response.to_wire(), peer)
                continue
            values = self.records.get((name, rtype))
            if values:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 300, "IN", rtype, values)
                )
            elif name not in self.names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.socket.sendto(response.to_wire(), peer)

    def __enter__(self) -> LoopbackDns:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join(5)
        self.socket.close()
