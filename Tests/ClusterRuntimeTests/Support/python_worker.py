#!/usr/bin/env python3
"""A CWP/2 worker written from docs/protocol.md alone (pyzmq and numpy, nothing of Crucible).

It proves the document: connected to `crucible merge ... --listen ENDPOINT`, it serves linear
merges whose output must be byte-identical to Crucible's own. It says HELLO with no
encodings (raw payloads only, §6), reads the model files itself when their size and header
digest match the WELCOME (§4.1), or takes the inputs shipped as INPUT chunks
(--no-shared-storage), computes `linear` as §4.4 says, sends RESULT chunks then DONE (§4.1),
heartbeats (§5), and exits 0 on SHUTDOWN. Any other job kind, method or output dtype is
refused with ERROR `unsupported` and a non-zero exit (§5).

Usage: python_worker.py --connect tcp://HOST:PORT [--no-shared-storage] [--model-root FROM=TO]
"""

import argparse
import json
import os
import re
import socket
import struct
import sys
import time

import numpy as np
import zmq

VERSION = 2
HELLO, WELCOME, TASK, INPUT, RESULT, DONE, ERROR, HEARTBEAT, SHUTDOWN, READY = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
NAMES = {1: "HELLO", 2: "WELCOME", 3: "TASK", 4: "INPUT", 5: "RESULT", 6: "DONE", 7: "ERROR", 8: "HEARTBEAT", 9: "SHUTDOWN", 10: "READY"}


def log(text):
    print("python worker: " + text, file=sys.stderr, flush=True)


# --- xxHash64, seed 0 (§4.1 checksums, header digests) -------------------------------------

MASK = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & MASK, 31) * P1) & MASK


def _merge(acc, val):
    return ((acc ^ _round(0, val)) * P1 + P4) & MASK


def xxh64(data, seed=0):
    data = bytes(data)
    n, i = len(data), 0
    if n >= 32:
        v1, v2, v3, v4 = (seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK
        words = struct.unpack_from("<%dQ" % (4 * (n // 32)), data)
        for k in range(0, len(words), 4):
            v1 = _round(v1, words[k])
            v2 = _round(v2, words[k + 1])
            v3 = _round(v3, words[k + 2])
            v4 = _round(v4, words[k + 3])
        i = 32 * (n // 32)
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & MASK
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + P5) & MASK
    h = (h + n) & MASK
    while i + 8 <= n:
        (k1,) = struct.unpack_from("<Q", data, i)
        h = (_rotl(h ^ _round(0, k1), 27) * P1 + P4) & MASK
        i += 8
    if i + 4 <= n:
        (k1,) = struct.unpack_from("<I", data, i)
        h = (_rotl(h ^ ((k1 * P1) & MASK), 23) * P2 + P3) & MASK
        i += 4
    while i < n:
        h = (_rotl(h ^ ((data[i] * P5) & MASK), 11) * P1) & MASK
        i += 1
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    h ^= h >> 32
    return h


# --- JSON header values (§3) ----------------------------------------------------------------

U64 = re.compile(r"(0|[1-9][0-9]{0,19})\Z")


def u64(value):
    """A 64-bit value: a JSON string of decimal digits, nothing else."""
    if not isinstance(value, str) or not U64.match(value) or int(value) > MASK:
        raise ValueError("64-bit value %r is not a decimal string" % (value,))
    return int(value)


def integer(header, field):
    value = header[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("%s must be an integer, not %r" % (field, value))
    return value


# --- safetensors (§4.4) -----------------------------------------------------------------------

def read_header(path):
    with open(path, "rb") as f:
        prefix = f.read(8)
        (length,) = struct.unpack("<Q", prefix)
        text = f.read(length)
    return prefix + text, json.loads(text)


def to_float32(raw, dtype):
    if dtype == "F32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dtype == "BF16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
    if dtype == "F16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if dtype == "F64":
        return np.frombuffer(raw, dtype="<f8").astype(np.float32)
    raise ValueError("input dtype %s is not supported by this worker" % dtype)


OUTPUT_WIDTH = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8}


def from_float32(acc, dtype):
    if dtype == "F32":
        return acc.astype("<f4").tobytes()
    if dtype == "BF16":
        bits = acc.view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        rounded[(bits & 0x7FFFFFFF) > 0x7F800000] = 0x7FC0
        return rounded.astype("<u2").tobytes()
    if dtype == "F16":
        return acc.astype("<f2").tobytes()
    if dtype == "F64":
        return acc.astype("<f8").tobytes()
    raise ValueError("output dtype %s" % dtype)


def linear(work, inputs):
    """§4.4: Float32 throughout, weights summed and products accumulated in input order."""
    weights = [np.float32(float(item["parameters"]["weight"])) for item in work["inputs"]]
    normalize = work["parameters"]["normalize"]
    if not isinstance(normalize, bool):
        raise ValueError("normalize must be a boolean")
    with np.errstate(all="ignore"):
        total = np.float32(0)
        for w in weights:
            total = np.float32(total + w)
        acc = np.zeros(inputs[0].size if inputs else 0, dtype=np.float32)
        for w, x in zip(weights, inputs):
            acc += np.multiply(w, x, dtype=np.float32)
        if normalize:
            acc = np.divide(acc, total, dtype=np.float32)
    return acc


def remap(vocabulary, models, arrays, hidden):
    """§4.3 vocabulary: each input laid out in the output vocabulary, as Float32 [rows, hidden]."""
    tokens, rows = vocabulary["tokens"], vocabulary["rows"]
    if not 0 < tokens <= rows:
        raise ValueError("vocabulary of %d tokens in %d rows" % (tokens, rows))
    matrices = dict(zip(models, (a.reshape(-1, hidden) for a in arrays)))
    fills = {}
    for fill in vocabulary["fill"]:
        total = np.zeros(hidden, dtype=np.float32)
        for model, row in fill["from"]:
            total = np.add(total, matrices[model][row], dtype=np.float32)
        if len(fill["from"]) > 1:
            total = np.divide(total, np.float32(len(fill["from"])), dtype=np.float32)
        fills[fill["row"]] = total
    own = {entry["model"]: entry["spans"] for entry in vocabulary["own"]}
    out = []
    for model in models:
        matrix, result = matrices[model], np.zeros((rows, hidden), dtype=np.float32)
        for row, values in fills.items():
            result[row] = values
        for at, source, count in own[model]:
            if at + count > tokens or source + count > matrix.shape[0]:
                raise ValueError("rows %r do not fit" % ([at, source, count],))
            result[at:at + count] = matrix[source:source + count]
        if rows > tokens:
            mean = np.zeros(hidden, dtype=np.float64)
            for row in range(tokens):
                mean += result[row].astype(np.float64)
            result[tokens:] = (mean / tokens).astype(np.float32)
        out.append(result.reshape(-1))
    return out


# --- the worker -------------------------------------------------------------------------------

class Worker:
    def __init__(self, args):
        self.args = args
        self.context = zmq.Context()
        self.roots = [root.split("=", 1) for root in args.model_root]

    def mapped(self, path):
        for source, target in self.roots:
            if path.startswith(source):
                return target + path[len(source):]
        return path

    def send(self, kind, header, payload=None):
        frames = [bytes([VERSION, kind]), json.dumps(header).encode("utf-8")]
        if payload is not None:
            frames.append(payload)
        self.socket.send_multipart(frames)

    def refuse(self, why):
        log("refusing the job: " + why)
        self.send(ERROR, {"code": "unsupported", "message": why})
        time.sleep(0.3)  # let the I/O thread deliver it (LINGER is 0)
        sys.exit(3)

    def run(self):
        while True:
            if self.session() == "shutdown":
                return 0

    def session(self):
        """One connection, HELLO to SHUTDOWN (or silence: then a fresh one)."""
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.IDENTITY, bytes([1 + b % 255 for b in os.urandom(16)]))
        self.socket.connect(self.args.connect)
        self.welcome = None
        self.tensors = None
        self.shipments = {}
        self.send(HELLO, {"threads": 1, "host": socket.gethostname(), "encodings": []})
        heard = sent = time.monotonic()
        try:
            while True:
                interval = (self.welcome["heartbeatMs"] if self.welcome else 1000) / 1000
                if self.socket.poll(20):
                    frames = self.socket.recv_multipart()
                    heard = time.monotonic()
                    end = self.handle(frames)
                    if end:
                        return end
                now = time.monotonic()
                limit = interval * self.welcome["liveness"] if self.welcome else 10
                if now - heard > limit:
                    log("the coordinator is silent; starting a new session")
                    return "lost"
                if now - sent >= interval:
                    self.send(HEARTBEAT, {})
                    sent = now
        finally:
            self.socket.close(0)

    def handle(self, frames):
        if len(frames) not in (2, 3) or len(frames[0]) != 2:
            log("dropped a malformed message")
            return None
        if frames[0][0] != VERSION:
            log("dropped a message of protocol version %d" % frames[0][0])
            return None
        kind = frames[0][1]
        try:
            header = json.loads(frames[1].decode("utf-8"))
        except ValueError as error:
            log("dropped a %s with a malformed header: %s" % (NAMES.get(kind, kind), error))
            return None
        payload = frames[2] if len(frames) == 3 else b""
        if kind == WELCOME:
            self.set_up(header)
        elif kind == TASK:
            self.accept(header)
        elif kind == INPUT:
            self.receive(header, payload)
        elif kind == HEARTBEAT:
            pass
        elif kind == ERROR:
            log("the coordinator says %s: %s" % (header.get("code"), header.get("message")))
            if header.get("code") == "unknown-peer":
                return "lost"
            if header.get("code") == "version":
                sys.exit(1)
        elif kind == SHUTDOWN:
            return "lost" if header.get("final") is False else "shutdown"
        else:
            log("ignored an unexpected message of type %d" % kind)
        return None

    def set_up(self, welcome):
        if welcome["kind"] != "merge":
            self.refuse("this worker runs merge jobs, not %s" % welcome["kind"])
        setup = json.loads(welcome["setup"])
        u64(setup["seed"])  # linear draws no random numbers, but the seed must be well formed
        if setup["method"] != "linear":
            self.refuse("this worker computes linear merges only, not %s" % setup["method"])
        if setup.get("numerics") is not None:
            self.refuse("this worker computes Crucible's numerics only, not %s" % setup["numerics"])
        if setup["outputDType"] not in OUTPUT_WIDTH:
            self.refuse("output dtype %s is not supported" % setup["outputDType"])
        self.welcome = welcome
        self.setup = setup
        reason = self.open_models(welcome["models"])
        if reason is None:
            self.send(READY, {"sharedStorage": True})
        else:
            log("inputs will be shipped: " + reason)
            self.send(READY, {"sharedStorage": False, "reason": reason})

    def open_models(self, models):
        """Per model, tensor name -> (file, dtype, shape, begin, end); None if the files differ."""
        if self.args.no_shared_storage:
            return "--no-shared-storage"
        tensors = []
        for model in models:
            table = {}
            for entry in model["files"]:
                path = self.mapped(entry["path"])
                try:
                    if os.path.getsize(path) != integer(entry, "size"):
                        return "%s has another size than the coordinator's copy" % path
                    prefix, header = read_header(path)
                except (OSError, ValueError, struct.error) as error:
                    return "cannot read %s: %s" % (path, error)
                if xxh64(prefix) != u64(entry["headerDigest"]):
                    return "%s has another header than the coordinator's copy" % path
                start = len(prefix)
                for name, info in header.items():
                    if name != "__metadata__":
                        begin, end = info["data_offsets"]
                        table[name] = (path, info["dtype"], info["shape"], start + begin, start + end)
            tensors.append(table)
        self.tensors = tensors
        return None

    def accept(self, task):
        key = (integer(task, "task"), integer(task, "attempt"))
        if self.welcome is None:
            return self.send(ERROR, {"task": key[0], "attempt": key[1], "code": "input", "message": "no WELCOME yet"})
        shipped = task.get("shipped")
        if shipped is not None:
            chunk = self.welcome["chunkBytes"]
            buffers = [bytearray(integer(item, "bytes")) for item in shipped]
            missing = {(i, offset) for i, item in enumerate(shipped) for offset in range(0, item["bytes"], chunk)}
            self.shipments[key] = (task, buffers, missing)
            if not missing:
                self.shipped_complete(key)
        elif self.tensors is not None:
            try:
                arrays = []
                for item in task["inputs"]:
                    path, dtype, shape, begin, end = self.tensors[item["model"]][item["tensor"]]
                    with open(path, "rb") as f:
                        f.seek(begin)
                        arrays.append((dtype, f.read(end - begin)))
            except (KeyError, IndexError, OSError) as error:
                return self.send(ERROR, {"task": key[0], "attempt": key[1], "code": "input", "message": "cannot read input: %r" % (error,)})
            self.compute(task, arrays)
        else:
            self.send(ERROR, {"task": key[0], "attempt": key[1], "code": "input", "message": "inputs were not shipped and cannot be read here"})

    def receive(self, chunk, payload):
        key = (integer(chunk, "task"), integer(chunk, "attempt"))
        if key not in self.shipments:
            return log("dropped an input chunk for no task it was given")
        task, buffers, missing = self.shipments[key]
        index, offset, size = integer(chunk, "index"), integer(chunk, "offset"), integer(chunk, "size")
        problem = None
        if (index, offset) not in missing:
            problem = "unexpected input chunk %d at %d" % (index, offset)
        elif chunk["encoding"] != 0:
            problem = "encoding %r: this worker speaks raw only" % chunk["encoding"]
        elif size != min(self.welcome["chunkBytes"], len(buffers[index]) - offset) or len(payload) != size:
            problem = "input chunk of %d bytes at %d does not fit" % (len(payload), offset)
        elif xxh64(payload) != u64(chunk["checksum"]):
            problem = "input chunk checksum mismatch"
        if problem:
            del self.shipments[key]
            return self.send(ERROR, {"task": key[0], "attempt": key[1], "code": "input", "message": problem})
        buffers[index][offset:offset + size] = payload
        missing.discard((index, offset))
        if not missing:
            self.shipped_complete(key)

    def shipped_complete(self, key):
        task, buffers, _ = self.shipments.pop(key)
        self.compute(task, [(item["dtype"], bytes(buffer)) for item, buffer in zip(task["shipped"], buffers)])

    def compute(self, task, inputs):
        """Computes a merge task from (dtype, bytes) per TASK input, sends RESULT chunks and DONE."""
        key = (task["task"], task["attempt"])
        try:
            work = json.loads(task["work"])
            if work.get("copiedAs") is not None:  # a non-float buffer: its input's bytes, unchanged (§4.3)
                data = inputs[0][1]
                if len(data) != work["outputBytes"]:
                    raise ValueError("a copied buffer of %d bytes, the TASK says %d" % (len(data), work["outputBytes"]))
                return self.send_result(key, data)
            if "base" in work and work["base"] is not None:
                raise ValueError("linear uses no base model")
            # An input with "parts" is the bytes of its parts (consecutive TASK inputs), one after another (§4.3).
            grouped, at = [], 0
            for item in work["inputs"]:
                n = len(item.get("parts") or [item["tensor"]])
                if len({dtype for dtype, _ in inputs[at:at + n]}) != 1 or at + n > len(inputs):
                    raise ValueError("the parts of %s do not share one dtype" % item["tensor"])
                grouped.append((inputs[at][0], b"".join(raw for _, raw in inputs[at:at + n])))
                at += n
            arrays = [to_float32(raw, dtype) for dtype, raw in grouped]
            if work.get("vocabulary") is not None:
                arrays = remap(work["vocabulary"], [item["model"] for item in work["inputs"]], arrays, work["shape"][1])
            count = 1
            for n in work["shape"]:
                count *= n
            if any(a.size != count for a in arrays):
                raise ValueError("input sizes disagree with the shape %s" % work["shape"])
            data = from_float32(linear(work, arrays), self.setup["outputDType"])
            parts = task["parts"]
            if len(parts) != 1 or parts[0]["bytes"] != len(data):
                raise ValueError("expected one part of %d bytes, the TASK says %r" % (len(data), parts))
        except Exception as error:  # the runner failed: ERROR compute (§7)
            return self.send(ERROR, {"task": key[0], "attempt": key[1], "code": "compute", "message": "%r" % (error,)})
        self.send_result(key, data)

    def send_result(self, key, data):
        """Sends a task's one part as RESULT chunks (§4: chunk k covers [k·chunkBytes, ...)), then DONE."""
        chunk, chunks = self.welcome["chunkBytes"], 0
        for offset in range(0, len(data), chunk):
            piece = data[offset:offset + chunk]
            self.send(RESULT, {"task": key[0], "attempt": key[1], "index": 0, "offset": offset, "size": len(piece),
                               "encoding": 0, "checksum": str(xxh64(piece))}, piece)
            chunks += 1
        self.send(DONE, {"task": key[0], "attempt": key[1], "chunks": chunks})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connect", help="the coordinator's endpoint, e.g. tcp://127.0.0.1:5555")
    parser.add_argument("--no-shared-storage", action="store_true")
    parser.add_argument("--model-root", action="append", default=[], metavar="FROM=TO")
    parser.add_argument("--self-test", action="store_true", help="check xxHash64 against its reference vectors and exit")
    args = parser.parse_args()
    if args.self_test:
        assert xxh64(b"") == 0xEF46DB3751D8E999
        assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
        assert xxh64(b"abc") == 0x44BC2CF5AD770999
        assert xxh64(b"Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1
        print("ok")
        return 0
    if not args.connect:
        parser.error("--connect is required")
    return Worker(args).run()


if __name__ == "__main__":
    sys.exit(main())
