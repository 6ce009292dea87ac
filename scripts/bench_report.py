#!/usr/bin/env python3
"""Prints scripts/bench's report: the results table, the micro-benchmarks, the machine, and a
Markdown version of the table for docs/performance.md.

Usage: bench_report.py RESULTS.tsv CONVERT.txt RANDOM.txt (machine details come from BENCH_*
environment variables set by scripts/bench). RESULTS.tsv rows: "tool/method<TAB>wall s<TAB>max
RSS KiB", wall being "failed" when a run failed.

Cluster mode (scripts/bench --cluster): bench_report.py --cluster RESULTS.tsv WIRE.txt WORK_DIR,
with RESULTS.tsv rows "embedded|cluster-j1|cluster-j2|cluster-lz4/method<TAB>wall<TAB>RSS<TAB>other load<TAB>CPU s
<TAB>re-issued tasks/worker reconnects",
WIRE.txt the output of `crucible-tools bench-wire`, and WORK_DIR/table-METHOD-LABEL.txt the
coordinator's standard error of the best run (its per-worker table).
"""
import datetime
import os
import sys


def env(name, default="?"):
    return os.environ.get(name, default) or default


def print_heading(now, machine, workload, crucible):
    print()
    print("=" * 78)
    print(f"date:      {now}")
    print(f"machine:   {machine}")
    print(f"workload:  {workload}")
    print(f"crucible:  {crucible}")


def read_rows(path, min_fields, convert):
    """Rows "label/method<TAB>fields…" of a results file as {method: {label: convert(fields)}}."""
    results = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < min_fields:
                continue
            label, method = parts[0].split("/", 1)
            results.setdefault(method, {})[label] = convert(parts[1:])
    return results


def load(path):
    """{method: {label: (wall s, max RSS KiB, CPU s)}}, None where a run failed or a field is absent."""
    return read_rows(path, 2, lambda p: (None if p[0] == "failed" else float(p[0]), int(p[1]) if len(p) > 1 and p[1] else None,
                                         float(p[2]) if len(p) > 2 and p[2] else None))


def seconds(x):
    return "-" if x is None else f"{x:.2f}"


def size(kib):
    if kib is None:
        return "-"
    mib = kib / 1024
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def ratio(a, b, suffix="×"):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}{suffix}"


# Targets of issue 4 (this 2-core machine).
WIRE_RATIO_TARGET = 1.15
WIRE_MBPS_TARGET = 500
CLUSTER_SLOWDOWN_TARGET = 1.15


def machine_lines():
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
    return now, machine, workload


def worker_table(path):
    """The per-worker table from a coordinator's standard error (from its header line on)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for i, line in enumerate(lines):
        if line.lstrip().startswith("worker ") and "compression" in line:
            return "\n".join(lines[i:]).rstrip()
    return None


def status(ok):
    return "met" if ok else "**missed**"


def cluster_main(results_path, wire_path, work_dir):
    rows = read_rows(results_path, 6, lambda p: (float(p[0]), int(p[1]), float(p[2]), float(p[3]), p[4]))
    with open(wire_path) as f:
        wire_text = f.read().rstrip()
    summary = {}
    for line in wire_text.splitlines():
        if line.startswith("summary "):
            summary = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)

    def number(key):
        try:
            return float(summary[key])
        except (KeyError, ValueError):
            return None

    now, machine, workload = machine_lines()
    crucible = f"{env('BENCH_CRUCIBLE_VERSION')} (commit {env('BENCH_COMMIT')})"
    loads = env("BENCH_LOADS", "").split()
    load_text = (f"1-minute load average before each round {', '.join(loads[:-1])}, after the last {loads[-1]} "
                 "(the benchmark itself keeps up to 2 cores busy)") if loads else "load not recorded"

    wire_ratio = number("bf16_ratio") or number("ratio")
    encode = number("encode_MBps")
    wire_rows = [
        ("plane shuffle+LZ4 ratio on BF16 weights (raw/compressed)", summary.get("bf16_ratio") or summary.get("ratio", "-"), f"≥ {WIRE_RATIO_TARGET}",
         status(wire_ratio is not None and wire_ratio >= WIRE_RATIO_TARGET)),
        ("compression MB/s per core (ChunkCodec.encode)", summary.get("encode_MBps", "-"), f"≥ {WIRE_MBPS_TARGET}",
         status(encode is not None and encode >= WIRE_MBPS_TARGET)),
        ("decompression MB/s per core (ChunkCodec.decode, checksum verified)", summary.get("decode_MBps", "-"), "", ""),
        ("chunks sent raw (compression saved < 2%)", summary.get("raw_chunks", "-"), "", ""),
        ("plain LZ4 ratio, no shuffle", summary.get("plain_lz4_ratio", "-"), "", ""),
        ("steps alone, MB/s: xxHash64 / shuffle / LZ4 of shuffled / plain LZ4",
         " / ".join(summary.get(k, "-") for k in ("hash_MBps", "shuffle_MBps", "lz4_MBps", "plain_lz4_MBps")), "", ""),
    ]

    cluster_rows = []
    checks = []
    names = {
        "embedded": "embedded default (`-j %s`, in-process worker, writes in place)" % env("BENCH_CORES"),
        "cluster-j1": "coordinator + 2 workers `-j 1` over tcp (fair: same compute threads)",
        "cluster-j2": "coordinator + 2 workers `-j 2` over tcp (oversubscribed)",
        "cluster-lz4": "coordinator + 2 workers `-j 1` over tcp, `--wire-compression always`",
    }
    for method, r in rows.items():
        base = r.get("embedded")
        for label in names:
            if label not in r:
                continue
            wall, rss, others, cpu, notes = r[label]
            x = wall / base[0] if base else None
            target = ""
            if label == "cluster-j1" and x is not None:
                target = f"≤ {CLUSTER_SLOWDOWN_TARGET}: {status(x <= CLUSTER_SLOWDOWN_TARGET)}"
                checks.append((method, x))
            cluster_rows.append([method, names[label], f"{wall:.2f}", f"{cpu:.1f}", size(rss),
                                 "-" if x is None else f"{x:.2f}×", notes, f"{others:.2f}", target])

    print_heading(now, machine, workload, crucible)
    print(f"runs:      {env('BENCH_RUNS')}; {load_text}")
    print()
    print(wire_text)
    print()
    for row in cluster_rows:
        print(f"{row[0]:<10} {row[1]:<72} {row[2]:>7} s  {row[3]:>6} CPU s  {row[4]:>9}  {row[5]:>6}  "
              f"re-issued/reconnects {row[6]}  others {row[7]}  {row[8]}")
    tables = []
    for method in rows:
        for label in ("cluster-j1", "cluster-j2", "cluster-lz4"):
            table = worker_table(os.path.join(work_dir, f"table-{method}-{label}.txt"))
            if table:
                tables.append((method, label, table))
                print()
                print(f"coordinator's per-worker table, {method}, {label} (best run):")
                print(table)
    print()

    print("Markdown (for docs/performance.md):")
    print()
    print(f"#### {now}: cluster mode, {machine}")
    print()
    print(f"{workload}. {crucible}. {env('BENCH_RUNS')}; `sync` before each run, inputs in the page cache. "
          f"Load: {load_text}.")
    print()
    print(f"Wire codec, `crucible-tools bench-wire` on the base model (every tensor in 4 MiB chunks, one thread):")
    print()
    print("| measure | value | target | status |")
    print("|---|---:|---|---|")
    for row in wire_rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("Merge wall time from the first process's start to the last one's exit, and the user+system CPU time "
          "of all processes; RSS of the largest process; re-issued/reconnects: tasks the coordinator took back from "
          "a worker and workers that reconnected after hearing nothing for 5 s (work done twice); others: cores "
          "other processes and the hypervisor kept busy during that run:")
    print()
    print("| method | how | wall s | CPU s | max RSS | ×embedded | re-issued/reconnects | others (cores) | target |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for row in cluster_rows:
        print("| " + " | ".join(row) + " |")
    for method, label, table in tables:
        print()
        print(f"Coordinator's per-worker table ({method}, {label}, best run):")
        print()
        print("```text")
        print(table)
        print("```")
    print()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--cluster":
        cluster_main(*sys.argv[2:5])
        return
    results_path, convert_path, random_path = sys.argv[1:4]
    results = load(results_path)
    mergekit_ran = any("mergekit" in r for r in results.values())

    header = ["method", "crucible s", "crucible CPU s", "crucible RSS", "mergekit s", "mergekit CPU s", "mergekit RSS",
              "speed-up (mergekit/crucible)", "RSS ratio (mergekit/crucible)", "floor s", "crucible/floor"]
    rows = []
    for method, r in results.items():
        cw, cr, cc = r.get("crucible", (None, None, None))
        mw, mr, mc = r.get("mergekit", (None, None, None))
        fw, _, _ = r.get("floor", (None, None, None))
        failed = "mergekit" in r and mw is None
        rows.append([method, seconds(cw), seconds(cc), size(cr),
                     "failed" if failed else seconds(mw), "-" if failed else seconds(mc), "-" if failed else size(mr),
                     ratio(mw, cw), ratio(mr, cr), seconds(fw), ratio(cw, fw)])

    now, machine, workload = machine_lines()
    crucible = f"{env('BENCH_CRUCIBLE_VERSION')} (commit {env('BENCH_COMMIT')}), -j {env('BENCH_CORES')}"
    mergekit = env("BENCH_MERGEKIT")
    if mergekit_ran and env("BENCH_MERGEKIT_FLAGS", ""):
        mergekit += f"; mergekit-yaml {env('BENCH_MERGEKIT_FLAGS')}"

    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print_heading(now, machine, workload, crucible)
    print(f"mergekit:  {mergekit}")
    print(f"runs:      {env('BENCH_RUNS')}; wall clock, CPU time (user+system) and max RSS from /usr/bin/time -v, sync before each run,")
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
