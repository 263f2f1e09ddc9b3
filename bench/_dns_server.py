"""The loopback DNS server in a process of its own, for the DNS benchmark.

`python -m bench._dns_server RECORDS.json` prints its port, then answers lines on
stdin: `queries` prints the queries seen since the last `queries` as JSON, and
an empty line (or the end of stdin) stops it.
"""

from __future__ import annotations

import json
import sys

from app.demo.dns_server import LoopbackDns


def main(path: str) -> None:
    with open(path, encoding="utf-8") as file:
        records = {(name, kind): values for name, kind, values in json.load(file)}
    with LoopbackDns(records) as server:
        print(server.port, flush=True)
        for line in sys.stdin:
            if line.strip() != "queries":
                break
            seen, server.queries[:] = list(server.queries), []
            print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
