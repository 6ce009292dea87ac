import Foundation
import Testing
import TensorIO
import TestSupport

/// Seeded random mutations of a valid file's header: every outcome must be either a header
/// whose tensors tile the data exactly (checked independently) or a thrown SafeTensorsError,
/// never a crash or a header that accepts inconsistent offsets.
@Suite("Randomly mutated headers are parsed safely")
struct SafeTensorsMutationTests {
    static let path = "mutated.safetensors"

    /// A valid file: metadata plus tensors of several dtypes, including a 0-rank and a zero-size one.
    static func validFile() -> [UInt8] {
        let entries = [
            SafeTensorsBuilder.entry("model.embed_tokens.weight", "F32", [2, 3], 0, 24),
            SafeTensorsBuilder.entry("model.layers.0.mlp.up_proj.weight", "BF16", [4], 24, 32),
            SafeTensorsBuilder.entry("step", "I64", [], 32, 40),
            SafeTensorsBuilder.entry("empty", "U8", [0, 7], 40, 40),
            SafeTensorsBuilder.entry("lm_head.weight", "F16", [3, 1], 40, 46),
            SafeTensorsBuilder.entry("q", "F8_E4M3", [2], 46, 48),
        ]
        var json = SafeTensorsBuilder.header(entries, metadata: [("format", "pt"), ("note", "x\\u00e9")])
        while (8 + json.utf8.count) % 8 != 0 { json += " " }
        var rng = SplitMix64(seed: 7)
        return SafeTensorsBuilder.file(header: json, data: rng.bytes(48))
    }

    static let structural = Array(#"{}[]:,"\ -.0123456789eE"#.utf8)
    static let punctuation = Array(#"{}[]:,""#.utf8)

    /// Applies one random mutation to `bytes` (whose header is `bytes[8 ..< 8 + n]`).
    static func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        let declared = UInt64(littleEndian: bytes.count >= 8 ? bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } : 0)
        let n = declared > UInt64(bytes.count) ? bytes.count : Int(declared)
        let headerEnd = min(bytes.count, 8 + min(n, bytes.count))
        let headerRange = 8..<max(9, headerEnd)
        func setLength(_ value: Int) {
            guard bytes.count >= 8 else { return }
            for (i, b) in SafeTensorsBuilder.littleEndian(UInt64(value)).enumerated() { bytes[i] = b }
        }
        guard bytes.count > 9 else {
            bytes.append(UInt8.random(in: 0...255, using: &rng))
            return
        }
        let at = Int.random(in: headerRange, using: &rng) % bytes.count
        switch Int.random(in: 0..<11, using: &rng) {
        case 0:  // flip one bit
            bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
        case 1:  // any byte
            bytes[at] = UInt8.random(in: 0...255, using: &rng)
        case 2:  // a structural or number character
            bytes[at] = structural.randomElement(using: &rng)!
        case 3:  // change a digit to another digit
            let digits = (8..<headerEnd).filter { (0x30...0x39).contains(bytes[$0]) }
            if let i = digits.randomElement(using: &rng) { bytes[i] = UInt8(0x30 + Int.random(in: 0...9, using: &rng)) }
        case 4:  // swap two structural characters
            let positions = (8..<headerEnd).filter { punctuation.contains(bytes[$0]) }
            if let i = positions.randomElement(using: &rng), let j = positions.randomElement(using: &rng) {
                bytes.swapAt(i, j)
            }
        case 5:  // delete a few header bytes, keeping the length prefix consistent
            let count = min(Int.random(in: 1...8, using: &rng), headerEnd - at)
            bytes.removeSubrange(at..<(at + count))
            setLength(n - count)
        case 6:  // insert a few bytes, keeping the length prefix consistent
            let count = Int.random(in: 1...4, using: &rng)
            let inserted = (0..<count).map { _ in
                Bool.random(using: &rng) ? structural.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            bytes.insert(contentsOf: inserted, at: at)
            setLength(n + count)
        case 7:  // truncate the file anywhere
            bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &rng)...)
        case 8:  // a wrong length prefix: nearby or anything
            if Bool.random(using: &rng) {
                setLength(max(0, n + Int.random(in: -16...16, using: &rng)))
            } else if bytes.count >= 8 {
                for (i, b) in SafeTensorsBuilder.littleEndian(rng.next() >> UInt64.random(in: 0..<64, using: &rng)).enumerated() { bytes[i] = b }
            }
        case 9:  // delete header bytes without fixing the length
            let count = min(Int.random(in: 1...8, using: &rng), headerEnd - at)
            bytes.removeSubrange(at..<(at + count))
        default:  // add or remove data bytes
            if Bool.random(using: &rng) {
                bytes.append(contentsOf: rng.bytes(Int.random(in: 1...8, using: &rng)))
            } else {
                bytes.removeLast(min(bytes.count, Int.random(in: 1...8, using: &rng)))
            }
        }
    }

    /// Compares an accepted header with Foundation's independent JSON parse of the same bytes.
    static func disagreement(_ header: SafeTensorsHeader, _ bytes: [UInt8]) -> String? {
        let json = Data(bytes[8..<header.dataStart])
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            return "Foundation cannot parse an accepted header"
        }
        let names = object.keys.filter { $0 != "__metadata__" }
        guard Set(names) == Set(header.tensors.map(\.name)), names.count == header.tensors.count else { return "tensor names differ" }
        for t in header.tensors {
            guard let entry = object[t.name] as? [String: Any],
                  entry["dtype"] as? String == t.dtype.rawValue,
                  let shape = entry["shape"] as? [NSNumber], shape.map(\.intValue) == t.shape,
                  let offsets = entry["data_offsets"] as? [NSNumber],
                  offsets.map(\.uint64Value) == [t.dataOffsets.lowerBound, t.dataOffsets.upperBound]
            else { return "entry \(t.name) differs" }
        }
        if let metadata = object["__metadata__"] as? [String: String] {
            guard metadata == Dictionary(uniqueKeysWithValues: header.metadata.map { ($0.key, $0.value) }) else { return "metadata differs" }
        } else if !header.metadata.isEmpty || object["__metadata__"] != nil {
            return "metadata differs"
        }
        return nil
    }

    @Test("20 000 seeded header mutations either parse into an exact tiling or throw SafeTensorsError")
    func mutatedHeadersParseOrThrow() throws {
        let original = Self.validFile()
        #expect(tilingProblem(try parseHeader(original, path: Self.path), fileSize: original.count) == nil)

        var rng = SplitMix64(seed: 0x5AFE_7E45)
        var accepted = 0
        var rejected = 0
        var problemKinds = Set<String>()
        var failures: [String] = []
        for iteration in 0..<20_000 {
            var bytes = original
            for _ in 0..<(rng.next() % 4 == 0 ? 3 : 1) { Self.mutate(&bytes, &rng) }
            do {
                let header = try parseHeader(bytes, path: Self.path)
                accepted += 1
                if let problem = tilingProblem(header, fileSize: bytes.count) ?? Self.disagreement(header, bytes) {
                    failures.append("iteration \(iteration): accepted but \(problem)")
                }
            } catch {
                rejected += 1
                problemKinds.insert(String(String(describing: error.problem).prefix { $0 != "(" }))
                if error.file != Self.path || !error.description.hasPrefix(Self.path + ": ") {
                    failures.append("iteration \(iteration): error does not name the file: \(error)")
                }
                if let tensor = error.tensor, !error.description.contains("\"\(tensor)\"") {
                    failures.append("iteration \(iteration): error does not name tensor \(tensor): \(error)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) bad outcomes, e.g. \(failures.prefix(5))")
        #expect(accepted > 0)
        #expect(rejected > 10_000)
        #expect(problemKinds.count >= 10, "only \(problemKinds.sorted()) were hit")
    }
}
