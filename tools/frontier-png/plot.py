#!/usr/bin/env python3
"""Draws docs/img/frontier.png: each class's cost-versus-target frontier on a data set.

Runs `inferno-optimizer explain DATA --frontier CLASS --json` for every class of the data (the
classes come from `explain DATA --json`) and plots each class's servers' cost (capacities
ignored, as a percentage of its cost at its own targets) against the scale of its TTFT and ITL targets, with the number of its servers served
where that changes. Needs matplotlib (pip) and a built inferno-optimizer.

    python3 tools/frontier-png/plot.py samples/large docs/img/frontier.png \
        [--bin target/release/inferno-optimizer]
"""

import argparse
import json
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def run(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--bin", default="target/release/inferno-optimizer")
    a = p.parse_args()
    classes = [c["name"] for c in run(a.bin, "explain", a.data, "--json")["classes"]]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for name in classes:
        points = run(a.bin, "explain", a.data, "--frontier", name, "--json")["points"]
        if not any(pt["cost"] > 0 for pt in points):
            continue
        base = next(pt["cost"] for pt in points if pt["scale"] == 1.0)
        xs = [pt["scale"] for pt in points]
        ys = [100.0 * pt["cost"] / base for pt in points]
        ax.plot(xs, ys, marker="o", label=f"{name} ({base:,.0f} cents/hr at 1)")
        for prev, pt, y in zip(points, points[1:], ys[1:]):
            if pt["served"] != prev["served"]:
                ax.annotate(f'{pt["served"]} served', (pt["scale"], y), fontsize=8)
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_xticks([0.5, 0.7, 1.0, 1.5, 2.0])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("TTFT and ITL targets, times the class's own (1 = as given)")
    ax.set_ylabel("the class's servers' cost, % of its cost\nat its targets (capacities ignored)")
    ax.set_title(f"Cost versus targets: {a.data}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out)


if __name__ == "__main__":
    main()
