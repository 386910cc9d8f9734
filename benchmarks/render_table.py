"""Render the README's ratio table from a pytest-benchmark JSON file.

Usage::

    pytest benchmarks --benchmark-enable -m "slow or not slow" --benchmark-json=bench.json
    python benchmarks/render_table.py bench.json
"""

import json
import sys

from fastspec.benchmark import render_table


def main(path):
    with open(path) as f:
        report = json.load(f)
    timings = {}
    for bench in report["benchmarks"]:
        name = bench["param"] if bench.get("param") else bench["name"]
        timings[name] = bench["extra_info"]["timings"]
    machine = report.get("machine_info", {})
    print(f"Measured {report.get('datetime', '')} on {machine.get('cpu', {}).get('brand_raw', 'unknown CPU')}, "
          f"Python {machine.get('python_version', '?')}, one thread.\n")
    print(render_table(timings))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench.json")
