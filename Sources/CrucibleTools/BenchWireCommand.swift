import ArgumentParser
import CLZ4
import WireCodec
import Dispatch
import Foundation
import TensorIO

/// Single-thread throughput and ratio of the cluster's wire codec (plane shuffle + LZ4)
/// on a real checkpoint, chunked as the runtime chunks results, for scripts/bench --cluster.
struct BenchWire: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-wire",
        abstract: "Measure the wire codec (plane shuffle + LZ4) on a checkpoint's tensors, on one core.",
        discussion: """
            Splits every tensor of MODEL into chunks as the cluster runtime does (chunk k covers bytes \
            [k·N, (k+1)·N) of the tensor), encodes each with ChunkCodec.encode (xxHash64, byte \
            planes by the dtype's width with the top plane as bit planes, LZ4, kept only when it saves at \
            least 2%) and decodes it with ChunkCodec.decode (checksum verified), one codec each way reused \
            across chunks as the runtime's sockets do.

            Reports the ratio (raw/compressed) per dtype, the share of chunks sent raw, MB/s of raw \
            bytes on one thread for encoding and decoding (best of --runs), the time of the checksum, \
            the shuffle and LZ4 alone, and plain LZ4 without the shuffle for comparison. Every byte is \
            read once before timing. MB = 10^6 bytes.
            """
    )

    @Argument(help: "A checkpoint folder or .safetensors file.") var model: String
    @Option(help: "Chunk size in bytes (the runtime's default is 4 MiB).") var chunkBytes = 4 << 20
    @Option(help: "Runs (the best of each measurement is reported).") var runs = 3

    func validate() throws {
        guard chunkBytes >= 4096, chunkBytes <= ChunkCodec.maximumChunk else { throw ValidationError("--chunk-bytes must be between 4096 and 2^30") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    /// Totals for one dtype (or all): sizes are the same in every run; times are per run.
    struct Totals {
        var tensors = 0
        var chunks = 0
        var bytes = 0
        var encoded = 0
        var rawChunks = 0
        var plainLZ4 = 0
        mutating func add(_ o: Totals) {
            tensors += o.tensors; chunks += o.chunks; bytes += o.bytes; encoded += o.encoded
            rawChunks += o.rawChunks; plainLZ4 += o.plainLZ4
        }
    }

    /// Seconds spent in each step over the whole checkpoint, in one run.
    struct Times {
        var encode = 0.0, decode = 0.0, hash = 0.0, shuffle = 0.0, lz4 = 0.0, lz4Plain = 0.0
        static func best(_ a: Times, _ b: Times) -> Times {
            Times(encode: min(a.encode, b.encode), decode: min(a.decode, b.decode), hash: min(a.hash, b.hash),
                  shuffle: min(a.shuffle, b.shuffle), lz4: min(a.lz4, b.lz4), lz4Plain: min(a.lz4Plain, b.lz4Plain))
        }
    }

    func run() throws {
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(path: model) } catch { throw ValidationError("\(error)") }
        var views: [TensorView] = []
        for name in checkpoint.tensorNames {
            do { views.append(try checkpoint.tensor(name)) } catch { throw ValidationError("\(error)") }
        }
        // Read every byte once so that page faults on the mapping are not timed.
        var sink: UInt64 = 0
        for view in views { sink &+= XXHash64.hash(view.bytes) }

        let bound = Int(LZ4_compressBound(Int32(chunkBytes)))
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: bound, alignment: 64)
        defer { scratch.deallocate(); out.deallocate() }
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        out.initializeMemory(as: UInt8.self, repeating: 0)

        let sender = ChunkCodec(), receiver = ChunkCodec()
        var byDType: [DType: Totals] = [:]
        var best: Times?
        for run in 0..<runs {
            var times = Times()
            for view in views {
                let width = max(view.dtype.bitWidth / 8, 1)
                let bytes = view.bytes
                var t = Totals()
                t.tensors = 1
                // The runtime's path: a sender's codec encodes every chunk of the tensor (the
                // payload is copied out, untimed, as a socket send would), then a receiver's
                // codec decodes them all.
                var encoded: [(EncodedChunk, [UInt8])] = []
                for offset in stride(from: 0, to: bytes.count, by: chunkBytes) {
                    let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(offset + chunkBytes, bytes.count)])
                    let start = now()
                    let (header, payload) = sender.encode(chunk, elementWidth: width, compress: true) { header, payload in
                        times.encode += now() - start
                        return (header, Array(payload))
                    }
                    encoded.append((header, payload))
                }
                let start = now()
                for (k, (header, payload)) in encoded.enumerated() {
                    let size = min(chunkBytes, bytes.count - k * chunkBytes)
                    let decoded = try payload.withUnsafeBytes { p in
                        try receiver.decode(p, encoding: header.encoding.rawValue, expectedSize: size, elementWidth: width,
                                            checksum: header.checksum) { $0.count }
                    }
                    precondition(decoded == size)
                }
                times.decode += now() - start
                for (header, payload) in encoded {
                    t.chunks += 1
                    t.encoded += payload.count
                    if header.encoding == .raw { t.rawChunks += 1 }
                }
                t.bytes = bytes.count

                // The same steps one by one, into preallocated buffers.
                for offset in stride(from: 0, to: bytes.count, by: chunkBytes) {
                    let n = min(chunkBytes, bytes.count - offset)
                    let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
                    let shuffled = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<n])
                    let w = n % width == 0 ? width : 1
                    var s = now()
                    sink &+= XXHash64.hash(chunk)
                    var e = now()
                    times.hash += e - s
                    s = e
                    PlaneShuffle.shuffle(chunk, width: w, into: shuffled)
                    e = now()
                    times.shuffle += e - s
                    s = e
                    _ = lz4(UnsafeRawBufferPointer(shuffled), into: out)
                    e = now()
                    times.lz4 += e - s
                    s = e
                    let plain = lz4(chunk, into: out)
                    e = now()
                    times.lz4Plain += e - s
                    t.plainLZ4 += plain > 0 ? plain : n
                }
                // Sizes are the same in every run.
                if run == 0 { byDType[view.dtype, default: Totals()].add(t) }
            }
            best = best.map { Times.best($0, times) } ?? times
            FileHandle.standardError.write(Data(String(format: "bench-wire: run %d/%d: encode %.2f s, decode %.2f s\n",
                                                       run + 1, runs, times.encode, times.decode).utf8))
        }
        withExtendedLifetime(sink) {}
        report(byDType, best!, views: views.count)
    }

    private func lz4(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int {
        Int(LZ4_compress_default(source.baseAddress!.assumingMemoryBound(to: CChar.self),
                                 destination.baseAddress!.assumingMemoryBound(to: CChar.self),
                                 Int32(source.count), Int32(destination.count)))
    }

    private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    private func report(_ byDType: [DType: Totals], _ t: Times, views: Int) {
        var all = Totals()
        for v in byDType.values { all.add(v) }
        let mb = Double(all.bytes) / 1e6
        func rate(_ seconds: Double) -> String { seconds > 0 ? ByteCount.formatDecimal(mb / seconds, places: 0) : "-" }
        func ratio(_ a: Int, _ b: Int) -> String { b > 0 ? ByteCount.formatDecimal(Double(a) / Double(b), places: 3) : "-" }
        func share(_ a: Int, _ b: Int) -> String { b > 0 ? ByteCount.formatDecimal(100 * Double(a) / Double(b), places: 1) + "%" : "-" }
        func row(_ name: String, _ v: Totals) -> [String] {
            [name, String(v.tensors), String(v.chunks), String(v.bytes), String(v.encoded),
             ratio(v.bytes, v.encoded), share(v.rawChunks, v.chunks), ratio(v.bytes, v.plainLZ4)]
        }

        print("wire codec on \(model): \(views) tensors, \(all.chunks) chunks of at most \(chunkBytes) bytes, 1 thread, best of \(runs) runs")
        var rows = byDType.sorted(by: { $0.value.bytes > $1.value.bytes }).map { row($0.key.rawValue, $0.value) }
        if byDType.count > 1 { rows.append(row("all", all)) }
        print(TextTable(header: ["dtype", "tensors", "chunks", "bytes", "compressed", "ratio", "raw chunks", "plain LZ4 ratio"],
                        rows: rows, rightAligned: Set(1...7)).render(), terminator: "")
        print("MB/s of raw bytes, 1 thread:")
        print("  encode (ChunkCodec.encode: checksum + plane shuffle + LZ4)     \(rate(t.encode))")
        print("  decode (ChunkCodec.decode: LZ4 + plane unshuffle + checksum)   \(rate(t.decode))")
        print("    checksum alone (xxHash64)                                    \(rate(t.hash))")
        print("    plane shuffle alone                                          \(rate(t.shuffle))")
        print("    LZ4 of the shuffled bytes alone                              \(rate(t.lz4))")
        print("    LZ4 of the bytes as they are (no shuffle)                    \(rate(t.lz4Plain)) (ratio \(ratio(all.bytes, all.plainLZ4)))")
        let bf16 = byDType[.bf16]
        // One line for scripts to parse.
        print("summary bytes=\(all.bytes) compressed=\(all.encoded) ratio=\(ratio(all.bytes, all.encoded))"
              + " bf16_ratio=\(bf16.map { ratio($0.bytes, $0.encoded) } ?? "-")"
              + " encode_MBps=\(rate(t.encode)) decode_MBps=\(rate(t.decode)) raw_chunks=\(all.rawChunks)/\(all.chunks)"
              + " plain_lz4_ratio=\(ratio(all.bytes, all.plainLZ4)) hash_MBps=\(rate(t.hash)) shuffle_MBps=\(rate(t.shuffle))"
              + " lz4_MBps=\(rate(t.lz4)) plain_lz4_MBps=\(rate(t.lz4Plain))")
    }
}
