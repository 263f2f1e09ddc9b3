"""`make bench`: run every benchmark module (or those named) and print their ratios.

Each module in this package exposes `run() -> list[str]`, lines to print.
Absolute times on a shared machine are noise; the ratios are the result.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(names: list[str]) -> int:
    package = Path(__file__).parent
    modules = sorted(
        m.name for m in pkgutil.iter_modules([str(package)]) if not m.name.startswith("_")
    )
    selected = [m for m in modules if not names or m in names]
    if not selected:
        print(
            f"no benchmark named {', '.join(names)}; known: {', '.join(modules)}", file=sys.stderr
        )
        return 2
    for name in selected:
        print(f"== {name}", flush=True)
        for line in importlib.import_module(f"bench.{name}").run():
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
