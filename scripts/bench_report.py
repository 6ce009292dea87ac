#!/usr/bin/env python3
"""Prints scripts/bench's report: the results table, the micro-benchmarks, the machine, and a
Markdown version of the table for docs/performance.md.

Usage: bench_report.py RESULTS.tsv CONVERT.txt RANDOM.txt (machine details come from BENCH_*
environment variables set by scripts/bench). RESULTS.tsv rows: "tool/method<TAB>wall s<TAB>max
RSS KiB", wall being "failed" when a run failed.
"""
import datetime
import os
import sys


def env(name, default="?"):
    return os.environ.get(name, default) or default


def load(path):
    results = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            tool, method = parts[0].split("/", 1)
            wall = None if parts[1] == "failed" else float(parts[1])
            rss = int(parts[2]) if len(parts) > 2 and parts[2] else None
            results.setdefault(method, {})[tool] = (wall, rss)
    return results


def seconds(x):
    return "-" if x is None else f"{x:.2f}"


def size(kib):
    if kib is None:
        return "-"
    mib = kib / 1024
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def ratio(a, b, suffix="×"):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}{suffix}"


def main():
    results_path, convert_path, random_path = sys.argv[1:4]
    results = load(results_path)
    mergekit_ran = any("mergekit" in r for r in results.values())

    header = ["method", "crucible s", "crucible RSS", "mergekit s", "mergekit RSS",
              "speed-up (mergekit/crucible)", "RSS ratio (mergekit/crucible)", "floor s", "crucible/floor"]
    rows = []
    for method, r in results.items():
        cw, cr = r.get("crucible", (None, None))
        mw, mr = r.get("mergekit", (None, None))
        fw, _ = r.get("floor", (None, None))
        failed = "mergekit" in r and mw is None
        rows.append([method, seconds(cw), size(cr),
                     "failed" if failed else seconds(mw), "-" if failed else size(mr),
                     ratio(mw, cw), ratio(mr, cr), seconds(fw), ratio(cw, fw)])

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mem_gib = int(env("BENCH_MEM_KIB", "0")) / 1024 / 1024
    params = env("BENCH_PARAMS")
    try:
        params_text = f"{int(params) / 1e9:.2f}B" if int(params) >= 1e8 else f"{int(params) / 1e6:.1f}M"
    except ValueError:
        params_text = params
    model_mb = int(env("BENCH_MODEL_BYTES", "0")) / 1e6
    machine = f"{env('BENCH_CPU')}, {env('BENCH_CORES')} cores, {mem_gib:.1f} GiB RAM, {env('BENCH_KERNEL')}"
    workload = (f"size {env('BENCH_SIZE')}: synthetic Llama-shaped BF16 base + 2 fine-tunes, "
                f"{params_text} parameters ({model_mb:.0f} MB) each ({env('BENCH_SHAPE')})")
    crucible = f"{env('BENCH_CRUCIBLE_VERSION')} (commit {env('BENCH_COMMIT')}), -j {env('BENCH_CORES')}"
    mergekit = env("BENCH_MERGEKIT")
    if mergekit_ran and env("BENCH_MERGEKIT_FLAGS", ""):
        mergekit += f"; mergekit-yaml {env('BENCH_MERGEKIT_FLAGS')}"

    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print()
    print("=" * 78)
    print(f"date:      {now}")
    print(f"machine:   {machine}")
    print(f"nproc:     {env('BENCH_CORES')}")
    print(f"CPU:       {env('BENCH_CPU')}")
    print(f"memory:    {mem_gib:.1f} GiB")
    print(f"workload:  {workload}")
    print(f"crucible:  {crucible}")
    print(f"mergekit:  {mergekit}")
    print(f"runs:      {env('BENCH_RUNS')}; wall clock and max RSS from /usr/bin/time -v, sync before each run,")
    print("           inputs in the page cache; floor = cat inputs + dd conv=fsync of a base-sized output")
    print()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    print()
    for path in (convert_path, random_path):
        with open(path) as f:
            print(f.read().rstrip())
        print()

    print("Markdown (for docs/performance.md):")
    print()
    print(f"#### {now}: {machine}")
    print()
    print(f"{workload}. {crucible}. mergekit: {mergekit}. {env('BENCH_RUNS')}; "
          "`sync` before each run, inputs in the page cache; the floor is `cat` of the inputs plus "
          "`dd conv=fsync` of a base-sized output.")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


if __name__ == "__main__":
    main()
