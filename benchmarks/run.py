"""`make bench`: run the benchmarks and rewrite their sections of BENCHMARKS.md."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from benchmarks import documents, erp_import, ingest, large_customers, matching, simulate
from benchmarks.common import REPORT, write_section

BENCHMARKS: dict[str, Callable[[], str]] = {
    "erp-import": erp_import.run,
    "simulate": simulate.run,
    "ingest": ingest.run,
    "documents": documents.run,
    "matching": matching.run,
    "large-customers": large_customers.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="default: all")
    args = parser.parse_args(argv)
    for name in args.names or list(BENCHMARKS):
        sys.stderr.write(f"bench: {name} ...\n")
        write_section(name, BENCHMARKS[name]())
        sys.stderr.write(f"bench: {name} written to {REPORT.name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
