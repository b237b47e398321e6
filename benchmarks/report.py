"""Print the latest benchmark results (benchmarks/results/*.json) as Markdown tables.

    python benchmarks/report.py            # the full runs
    python benchmarks/report.py --smoke    # the smoke runs

The README's "Benchmarks" section is this script's output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, machine_line, markdown_table  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--results", default=str(RESULTS_DIR))
    opts = parser.parse_args(argv)
    pattern = "*.smoke.json" if opts.smoke else "*.json"
    paths = sorted(p for p in Path(opts.results).glob(pattern)
                   if opts.smoke or not p.name.endswith(".smoke.json"))
    if not paths:
        print(f"no results in {opts.results}; run a benchmark first")
        return 1
    for path in paths:
        doc = json.loads(path.read_text())
        print(f"### {doc['benchmark']} ({path.name}, {doc['created']})\n")
        print(f"Machine: {machine_line(doc['machine'])}\n")
        print(markdown_table(doc["headers"], doc["rows"]))
        targets = doc.get("targets") or []
        if targets:
            print()
            for t in targets:
                mark = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
                print(f"- {t['target']}: {t['value']:.3g}{t['unit']} "
                      f"(target {t['comparison']} {t['threshold']}{t['unit']}) — {mark}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
