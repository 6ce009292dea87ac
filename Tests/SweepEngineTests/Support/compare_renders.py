#!/usr/bin/env python3
"""Compares two renderings of one SVG (librsvg's and Chromium's PNGs), coarsely.

usage: compare_renders.py A.png B.png [--cell PX] [--tolerance INK] [--slack PX]

Alike when the images have the same size, their inked areas (pixels darker than near-white)
have bounding boxes within --slack pixels of each other, and in every --cell × --cell square
the share of ink differs by at most --tolerance (0..1; ink = 1 − luminance on white, so text
rendered with slightly different glyph metrics or antialiasing passes, while a line, a band,
a marker or a label drawn by one renderer and not the other does not). Prints what it found;
exit status 0 alike, 1 different, 2 unreadable input. Needs numpy; decodes PNG itself (zlib),
so Pillow is not needed.
"""
import argparse
import struct
import sys
import zlib

import numpy as np


def read_png(path):
    """The image as a float array (height, width) of ink in 0..1, composited on white."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"{path}: only 8-bit grey/RGB(A), non-interlaced PNGs are read (depth {depth}, colour type {color})")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    pixels = unfilter(rows[:, 0], rows[:, 1:].astype(np.int32), channels).reshape(height, width, channels) / 255.0
    if channels in (2, 4):  # composite on white
        alpha = pixels[..., -1:]
        pixels = pixels[..., :-1] * alpha + (1 - alpha)
    grey = pixels[..., 0] if pixels.shape[-1] == 1 else pixels @ np.array([0.2126, 0.7152, 0.0722])
    return 1.0 - grey


def unfilter(filters, rows, bpp):
    """Undoes PNG's per-row filters: None, Sub and Up as vector operations; Average and Paeth,
    which depend on the byte to their left, byte by byte."""
    height, stride = rows.shape
    out = np.zeros((height + 1, stride), dtype=np.int32)  # a zero row above the first
    for r in range(height):
        kind = filters[r]
        if kind == 0:
            out[r + 1] = rows[r]
        elif kind == 1:
            out[r + 1] = np.cumsum(rows[r].reshape(-1, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:
            out[r + 1] = (rows[r] + out[r]) % 256
        elif kind in (3, 4):
            out[r + 1] = sequential_row(rows[r].tolist(), out[r].tolist(), kind, bpp)
        else:
            raise ValueError(f"unknown PNG filter {kind}")
    return out[1:].astype(np.uint8)


def sequential_row(filtered, above, kind, bpp):
    """Average (3) or Paeth (4): one row, given the row above, as a list of bytes."""
    current = [0] * len(filtered)
    for i, value in enumerate(filtered):
        a = current[i - bpp] if i >= bpp else 0
        b = above[i]
        if kind == 3:
            predictor = (a + b) >> 1
        else:
            c = above[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        current[i] = (value + predictor) & 255
    return current


def bounding_box(ink, threshold=0.1):
    ys, xs = np.nonzero(ink > threshold)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def cell_means(ink, cell):
    height, width = ink.shape
    h, w = -(-height // cell) * cell, -(-width // cell) * cell
    padded = np.zeros((h, w))
    padded[:height, :width] = ink
    return padded.reshape(h // cell, cell, w // cell, cell).mean(axis=(1, 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--cell", type=int, default=8)
    parser.add_argument("--tolerance", type=float, default=0.08)
    parser.add_argument("--slack", type=int, default=4)
    args = parser.parse_args()
    try:
        a, b = read_png(args.first), read_png(args.second)
    except (OSError, ValueError, zlib.error) as error:
        print(f"unreadable: {error}")
        return 2
    if a.shape != b.shape:
        print(f"different sizes: {a.shape[1]}x{a.shape[0]} and {b.shape[1]}x{b.shape[0]}")
        return 1
    box_a, box_b = bounding_box(a), bounding_box(b)
    print(f"size {a.shape[1]}x{a.shape[0]}; ink bounding boxes {box_a} and {box_b}")
    alike = True
    if box_a is None or box_b is None or max(abs(p - q) for p, q in zip(box_a, box_b)) > args.slack:
        print(f"bounding boxes differ by more than {args.slack} px")
        alike = False
    difference = np.abs(cell_means(a, args.cell) - cell_means(b, args.cell))
    worst = np.unravel_index(np.argmax(difference), difference.shape)
    print(f"largest ink difference {difference.max():.3f} in the {args.cell}-px cell at x={worst[1] * args.cell}, y={worst[0] * args.cell}")
    over = np.argwhere(difference > args.tolerance)
    if len(over):
        cells = ", ".join(f"({x * args.cell},{y * args.cell})" for y, x in over[:10])
        print(f"{len(over)} cells differ by more than {args.tolerance}: {cells}")
        alike = False
    print("alike" if alike else "different")
    return 0 if alike else 1


if __name__ == "__main__":
    sys.exit(main())
