#!/usr/bin/env python3
"""Collects a tools/bench_sweep.sh output directory into results.json and summary.md, and draws
its scaling plots (matplotlib, Agg; skipped with a message when matplotlib is missing).

    tools/plot_scaling.py OUT [--no-plots]

Reads OUT/runs/*.json (one cairn-bench --json file per configuration, named
<backend>-<mode>-zstd_<on|off>-<size>-np<ranks>.json by the sweep) and writes:
  OUT/results.json             every configuration: the sweep's keys plus cairn-bench's JSON
  OUT/summary.md               one markdown table row per configuration (also printed)
  OUT/scaling_throughput.png   save and restore GB/s against ranks at the largest state size:
                               cairn per backend/mode, and the raw write+fsync / read baseline
  OUT/scaling_blocking.png     seconds the application is blocked by a save against state size
                               at the largest rank count: sync (the whole save) and async
                               (until Save() returns) per backend, and the raw write+fsync time
GB = 1e9 bytes; every time is the slowest rank's; figures are medians over the runs.
"""

import argparse
import json
import pathlib
import re
import statistics
import sys

TAG = re.compile(r"^(?P<backend>.+)-(?P<mode>sync|async)-zstd_(?P<zstd>on|off)-(?P<size>[^-]+)"
                 r"-np(?P<ranks>\d+)$")


def load(out):
    records = []
    for f in sorted((out / "runs").glob("*.json")):
        j = json.loads(f.read_text())
        m = TAG.match(f.stem)
        rec = {
            "config": f.stem,
            "size": m["size"] if m else human(j["bytes"]),
            "mode": j.get("mode", "sync"),
        }
        rec.update(j)
        records.append(rec)
    records.sort(key=lambda r: (r["compression"], r["backend"], r["mode"] != "sync",
                                r["bytes"], r["ranks"]))
    return records


def human(n):
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= f:
            v = n / f
            return f"{v:.0f}{unit}" if abs(v - round(v)) < 0.01 else f"{v:.2f}{unit}"
    return f"{n}B"


def phase(r, name):
    p = r["phases"][name]
    return p["baseline"], p["cairn"], p["ratio"]


def summary(records):
    lines = [
        "| backend | mode | zstd | ranks | size | save raw GB/s | save cairn GB/s | save ratio "
        "| blocked s (raw write+fsync s) | restore raw GB/s | restore cairn GB/s | restore ratio |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in records:
        sb, sc, sr = phase(r, "save")
        rb, rc, rr = phase(r, "restore")
        lines.append(
            f"| {r['backend']} | {r['mode']} | {'on' if r['compression'] else 'off'} "
            f"| {r['ranks']} | {r['size']} | {sb['median_gbps']:.2f} | {sc['median_gbps']:.2f} "
            f"| {sr:.2f} | {sc['median_blocking_seconds']:.3f} ({sb['median_seconds']:.3f}) "
            f"| {rb['median_gbps']:.2f} | {rc['median_gbps']:.2f} | {rr:.2f} |")
    if records:
        r0 = records[0]
        lines.append("")
        lines.append(
            f"Medians of {r0['runs']} run(s) after {r0.get('warmup', 0)} warm-up, slowest rank, "
            f"GB = 1e9 bytes; ratio = cairn / raw baseline of the same runs; blocked = seconds "
            f"until Save() returned (sync: the whole save); dir on {r0['fs']}, cold restores "
            f"{'on' if r0['cold'] else 'off'}.")
    return "\n".join(lines) + "\n"


def label(key, zstd_values):
    backend, mode, zstd = key
    text = f"cairn {backend} {mode}"
    return text + (f" zstd {'on' if zstd else 'off'}" if len(zstd_values) > 1 else "")


def series(records, x_of):
    """{(backend, mode, compression): [(x, record), ...] sorted by x}."""
    out = {}
    for r in records:
        out.setdefault((r["backend"], r["mode"], r["compression"]), []).append((x_of(r), r))
    order = lambda k: (k[2], k[0], k[1] != "sync")  # noqa: E731  (sync before async)
    return {k: sorted(out[k], key=lambda t: t[0]) for k in sorted(out, key=order)}


def baseline_line(records, x_of, value):
    """The raw baseline at each x: the median over every configuration measured there."""
    by_x = {}
    for r in records:
        by_x.setdefault(x_of(r), []).append(value(r))
    xs = sorted(by_x)
    return xs, [statistics.median(by_x[x]) for x in xs]


def plot(records, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullLocator
    except ImportError as e:
        print(f"plot_scaling.py: plots skipped ({e}); apt-get install python3-matplotlib")
        return []
    zstd_values = sorted({r["compression"] for r in records})
    backends = sorted({r["backend"] for r in records})

    def style(key):
        # A colour per backend, solid sync and dashed async, hollow markers with zstd on.
        backend, mode, zstd = key
        return dict(color=f"C{backends.index(backend) % 10}", marker="o" if mode == "sync" else "^",
                    linestyle="-" if mode == "sync" else "--", fillstyle="none" if zstd else "full")

    def log_y(ax):
        # Label the 2s and 5s too: a sweep on one machine often spans less than a decade.
        ax.set_yscale("log")
        fmt = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(fmt)
        ax.yaxis.set_minor_formatter(
            FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))

    def log2_axis(ax, ticks, labels):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FixedFormatter(labels))
        ax.xaxis.set_minor_locator(NullLocator())

    files = []
    r0 = records[0]
    note = f"{r0['fs']}, medians of {r0['runs']} runs, slowest rank"

    # Throughput against ranks at the largest size.
    big = max(r["bytes"] for r in records)
    big_size = next(r["size"] for r in records if r["bytes"] == big)
    at_big = [r for r in records if r["size"] == big_size]
    ranks = sorted({r["ranks"] for r in at_big})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, name, raw in ((axes[0], "save", "raw write+fsync"), (axes[1], "restore", "raw read")):
        for key, pts in series(at_big, lambda r: r["ranks"]).items():
            ys = [r["phases"][name]["cairn"]["median_gbps"] for _, r in pts]
            ax.plot([x for x, _ in pts], ys, label=label(key, zstd_values), **style(key))
        xs, ys = baseline_line(at_big, lambda r: r["ranks"],
                               lambda r: r["phases"][name]["baseline"]["median_gbps"])
        ax.plot(xs, ys, color="black", linestyle=":", marker="s", linewidth=2, label=raw)
        log2_axis(ax, ranks, [str(n) for n in ranks])
        log_y(ax)
        ax.set_xlabel("ranks")
        ax.set_title(f"{name}, {big_size} state" + (" (async: until the commit)"
                                                    if name == "save" else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("GB/s (1e9 bytes/s)")
    fig.suptitle(f"cairn save/restore throughput against ranks ({note})", fontsize=10)
    fig.tight_layout()
    path = out / "scaling_throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)

    # Blocking time of a save against state size at the largest rank count.
    top = max(r["ranks"] for r in records)
    at_top = [r for r in records if r["ranks"] == top]
    sizes = sorted({(r["bytes"], r["size"]) for r in at_top})
    sizes = [s for i, s in enumerate(sizes) if i == 0 or s[1] != sizes[i - 1][1]]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for key, pts in series(at_top, lambda r: r["bytes"]).items():
        ax.plot([x for x, _ in pts],
                [r["phases"]["save"]["cairn"]["median_blocking_seconds"] for _, r in pts],
                label=label(key, zstd_values) + (" (Save() returns)" if key[1] == "async" else ""),
                **style(key))
    xs, ys = baseline_line(at_top, lambda r: r["bytes"],
                           lambda r: r["phases"]["save"]["baseline"]["median_seconds"])
    ax.plot(xs, ys, color="black", linestyle=":", marker="s", linewidth=2, label="raw write+fsync")
    log2_axis(ax, [b for b, _ in sizes], [s for _, s in sizes])
    log_y(ax)
    ax.set_xlabel("state size (all ranks)")
    ax.set_ylabel("seconds the application is blocked")
    ax.set_title(f"save blocking time, {top} rank(s) ({note})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = out / "scaling_blocking.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=pathlib.Path, help="the sweep's output directory")
    ap.add_argument("--no-plots", action="store_true",
                    help="write results.json and summary.md only")
    args = ap.parse_args()
    records = load(args.out)
    (args.out / "results.json").write_text(json.dumps(records, indent=2) + "\n")
    table = summary(records)
    (args.out / "summary.md").write_text(table)
    print(table, end="")
    print(f"plot_scaling.py: {len(records)} configuration(s) in {args.out / 'results.json'}, "
          f"table in {args.out / 'summary.md'}")
    if not records:
        print("plot_scaling.py: nothing to plot")
        return 1
    if not args.no_plots:
        for f in plot(records, args.out):
            print(f"plot_scaling.py: wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
