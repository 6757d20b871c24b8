"""Graph evaluation time against the graph's size: is it linear in the number of nodes?

For chains of `add` nodes (each node uses the one before) and flat graphs (no node uses
another), times validation plus evaluation in process, median of N runs, and prints the
time per node and its ratio to the 100-node graph's (the baseline: 1.0 means linear).

    .venv/bin/python benchmarks/graph_size.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from backend import executor  # noqa: E402
from core.settings import Settings  # noqa: E402
from processes.context import ExecutionContext  # noqa: E402
from sources.catalog import Catalog  # noqa: E402

SIZES = (100, 1000, 2000, 5000)


def chain(n: int) -> dict:
    graph = {"n0": {"process_id": "add", "arguments": {"x": 0, "y": 1}}}
    for i in range(1, n):
        graph[f"n{i}"] = {
            "process_id": "add",
            "arguments": {"x": {"from_node": f"n{i - 1}"}, "y": 1},
        }
    graph[f"n{n - 1}"]["result"] = True
    return graph


def flat(n: int) -> dict:
    graph = {f"n{i}": {"process_id": "add", "arguments": {"x": i, "y": 1}} for i in range(n)}
    graph["n0"]["result"] = True
    return graph


def _median(func, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    catalog = Catalog(Settings.from_env())
    for shape, build in (("chain", chain), ("flat", flat)):
        base = None
        for n in SIZES:
            graph = build(n)
            t = _median(lambda g=graph: executor.evaluate(g, ExecutionContext(catalog)), args.runs)
            per_node = t / n
            base = base or per_node
            print(
                f"{shape:5s} {n:5d} nodes: {t * 1000:8.1f} ms, {per_node * 1e6:6.1f} us/node, "
                f"x{per_node / base:.2f} the 100-node graph's per node"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
