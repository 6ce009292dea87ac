#!/usr/bin/env python3
"""Independent reference for `crucible analyze` (docs/analyze.md), in plain numpy.

usage: analyze_reference.py THRESHOLD BASE MODEL [MODEL ...]

BASE and MODEL are checkpoint folders holding one model.safetensors (or .safetensors files).
Prints JSON: per tensor, per layer and per model the statistics of delta = model - base,
computed in float32 with float64 sums; percentiles with np.percentile (method "linear") on
|delta| as float64. Non-finite deltas are counted and left out of every other statistic.
"""
import json
import os
import re
import struct
import sys

import numpy as np


def read_safetensors(path):
    """{name: (shape, float32 array)} for floating-point tensors, in header order."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    start = 8 + n
    tensors = {}
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        dtype, shape = entry["dtype"], entry["shape"]
        b, e = entry["data_offsets"]
        raw = blob[start + b:start + e]
        if dtype == "F32":
            values = np.frombuffer(raw, dtype="<f4")
        elif dtype == "BF16":
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype == "F16":
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dtype == "F64":
            values = np.frombuffer(raw, dtype="<f8").astype(np.float32)
        else:
            continue
        tensors[name] = (shape, values.astype(np.float32))
    return tensors


def read_checkpoint(path):
    if os.path.isfile(path):
        return read_safetensors(path)
    tensors = {}
    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            tensors.update(read_safetensors(os.path.join(path, name)))
    return tensors


LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.")


def layer_of(name):
    match = LAYER.search(name)
    return int(match.group(1)) if match else None


def fraction(numerator, denominator):
    return None if denominator == 0 else numerator / denominator


def model_stats(delta, threshold):
    finite = np.isfinite(delta)
    d = delta[finite]
    magnitude = np.abs(d).astype(np.float64)
    stats = {
        "finite": int(d.size),
        "non_finite": int(delta.size - d.size),
        "zeros": int(np.count_nonzero(d == 0)),
        "positives": int(np.count_nonzero(d > 0)),
        "within_threshold": int(np.count_nonzero(magnitude <= threshold)),
        "max_abs": float(magnitude.max()) if d.size else 0.0,
        "sum_abs": float(magnitude.sum()),
        "sum_squares": float((d.astype(np.float64) ** 2).sum()),
    }
    for q in (50, 90, 99):
        stats["p%d" % q] = float(np.percentile(magnitude, q)) if d.size else None
    return stats


def signs(delta):
    """+1 / -1 where the delta is finite and non-zero, 0 elsewhere."""
    s = np.sign(delta).astype(np.int8)
    s[~np.isfinite(delta)] = 0
    return s


def pair_stats(sa, sb):
    both = (sa != 0) & (sb != 0)
    return {"both_nonzero": int(np.count_nonzero(both)), "same_sign": int(np.count_nonzero(both & (sa == sb)))}


def aggregate(base_parts, delta_parts, threshold):
    """Statistics of the concatenation of several tensors (a layer, a model), computed
    directly on the concatenated values."""
    base = np.concatenate(base_parts).astype(np.float64)
    delta = np.concatenate(delta_parts)
    d = delta[np.isfinite(delta)]
    magnitude = np.abs(d).astype(np.float64)
    base_norm = float(np.sqrt((base ** 2).sum()))
    return {
        "elements": int(delta.size),
        "finite": int(d.size),
        "max_abs": float(magnitude.max()) if d.size else 0.0,
        "mean_abs": float(magnitude.mean()) if d.size else None,
        "share_within": fraction(int(np.count_nonzero(magnitude <= threshold)), d.size),
        "share_zero": fraction(int(np.count_nonzero(d == 0)), d.size),
        "relative_norm": None if base_norm == 0 else float(np.sqrt((d.astype(np.float64) ** 2).sum())) / base_norm,
    }


def main():
    threshold = float(sys.argv[1])
    base = read_checkpoint(sys.argv[2])
    models = [read_checkpoint(path) for path in sys.argv[3:]]
    count = len(models)
    pairs = [(a, b) for a in range(count) for b in range(a + 1, count)]

    out = {"tensors": {}, "layers": {}, "models": []}
    groups = {}  # layer key -> (base parts, per model delta parts, per pair sign parts)
    everything = ([], [[] for _ in models], [[] for _ in pairs])
    for name, (shape, b) in base.items():
        deltas = []
        for model in models:
            other_shape, m = model[name]
            assert other_shape == shape, name
            with np.errstate(over="ignore", invalid="ignore"):
                deltas.append(m - b)  # float32 arithmetic, as Crucible
        sign_arrays = [signs(d) for d in deltas]
        out["tensors"][name] = {
            "elements": int(b.size),
            "base_sum_squares": float((b.astype(np.float64) ** 2).sum()),
            "models": [model_stats(d, threshold) for d in deltas],
            "pairs": [pair_stats(sign_arrays[a], sign_arrays[c]) for a, c in pairs],
        }
        layer = layer_of(name)
        key = "other" if layer is None else str(layer)
        group = groups.setdefault(key, ([], [[] for _ in models], [[] for _ in pairs]))
        for target in (group, everything):
            target[0].append(b)
            for i, d in enumerate(deltas):
                target[1][i].append(d)
            for p, (a, c) in enumerate(pairs):
                target[2][p].append(np.stack([sign_arrays[a], sign_arrays[c]]))

    def summarise(group):
        base_parts, delta_parts, sign_parts = group
        return {
            "models": [aggregate(base_parts, parts, threshold) for parts in delta_parts],
            "pairs": [pair_stats(np.concatenate([s[0] for s in parts]), np.concatenate([s[1] for s in parts]))
                      for parts in sign_parts],
        }

    for key, group in groups.items():
        out["layers"][key] = summarise(group)
    whole = summarise(everything)
    out["models"] = whole["models"]
    out["pairs"] = whole["pairs"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
