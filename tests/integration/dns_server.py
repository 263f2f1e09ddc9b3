"""A small authoritative DNS server on 127.0.0.1 (UDP) for direct-mode sender tests.

It answers from a dict of records, so dnspython's real resolver does real
lookups: names it knows without the asked type get an empty answer (NoAnswer),
names it does not know get NXDOMAIN.
"""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class LoopbackDns:
    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        # {("dest.test", "MX"): ["10 mx.dest.test."], ("mx.dest.test", "A"): ["127.0.0.1"]}
        self.records = {
            (name.lower().rstrip(".") + ".", rtype.upper()): values
            for (name, rtype), values in records.items()
        }
        self.names = {name for name, _ in self.records}
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

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        self._thread.join(5)
        self.socket.close()
