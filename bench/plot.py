#!/usr/bin/python3
"""Plots bench/results/latest.json: ws101/peer ratio per workload and peer.

usage: plot.py latest.json out.png
A bar above 1.0 means ws101 did better for throughput rows and worse for
memory rows (B/conn: lower is better); the axis label says which is which.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    data = json.load(open(src))
    rows = [r for r in data["results"] if r.get("ratio_ws101_over_peer")]
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    peers = []
    for r in rows:
        if r["server"] not in peers:
            peers.append(r["server"])
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(workloads) + 3), 5))
    if not rows:
        ax.text(0.5, 0.5, "no ws101 ratios yet (ws101-demo not measured)",
                ha="center", va="center", transform=ax.transAxes)
    width = 0.8 / max(1, len(peers))
    for i, p in enumerate(peers):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            for r in rows:
                if r["workload"] == w and r["server"] == p:
                    xs.append(j + (i - (len(peers) - 1) / 2) * width)
                    ys.append(r["ratio_ws101_over_peer"])
        bars = ax.bar(xs, ys, width, label=f"ws101 / {p}")
        for b, y in zip(bars, ys):
            ax.text(b.get_x() + b.get_width() / 2, y, f"{y:.2f}", ha="center",
                    va="bottom", fontsize=7)
    ax.axhline(1.0, color="black", linewidth=0.8)
    if rows:
        ax.set_yscale("log")  # ratios span 0.3x..60x; 1.0 = parity
    labels = []
    for w in workloads:
        unit = next(r["unit"] for r in rows if r["workload"] == w)
        labels.append(f"{w}\n({unit}{', lower better' if unit == 'B/conn' else ''})")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(labels, fontsize=7, rotation=20, ha="right")
    ax.set_ylabel("ws101 / peer (median of rounds, log scale)")
    meta = data.get("meta", {})
    ax.set_title(f"libws101 vs peers  ({meta.get('date', '')}, commit "
                 f"{meta.get('commit', '?')}, {meta.get('duration', '?')}s x "
                 f"{meta.get('rounds', '?')} rounds)", fontsize=9)
    if peers:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
