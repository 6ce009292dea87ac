import ClusterRuntime
import Foundation
import JobModel
import MergeEngine
import Testing
import TestSupport

/// The JSON on the wire is what docs/protocol.md shows: 64-bit values as decimal strings,
/// parameters as plain JSON values, the merge setup and work bodies with their documented fields.
@Suite struct ProtocolJSONTests {
    func object(_ bytes: some Sequence<UInt8>) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("RESULT/INPUT checksums and header digests are decimal strings; a number there makes the header malformed")
    func sixtyFourBitFields() throws {
        let chunk = Header.Chunk(task: 3, attempt: 1, index: 0, offset: 0, size: 8, encoding: 0, checksum: .max)
        let message = try ProtocolMessage(.result, chunk)
        #expect(try object(message.header)["checksum"] as? String == "18446744073709551615")
        #expect(try ProtocolMessage(frames: message.frames).decode(Header.Chunk.self).checksum == .max)
        let numeric = #"{"task":3,"attempt":1,"index":0,"offset":0,"size":8,"encoding":0,"checksum":12345}"#
        do {
            _ = try ProtocolMessage(frames: [[ProtocolMessage.version, MessageKind.result.rawValue], Array(numeric.utf8)]).decode(Header.Chunk.self)
            Issue.record("a numeric checksum was accepted")
        } catch {
            #expect("\(error)".contains("`checksum`: a 64-bit value must be a JSON string of decimal digits"), "\(error)")
        }
        let missing = #"{"task":3,"attempt":1,"index":0,"offset":0,"size":8,"encoding":0}"#
        #expect(throws: ProtocolError.malformed("result header: `checksum` is missing")) {
            try ProtocolMessage(frames: [[ProtocolMessage.version, MessageKind.result.rawValue], Array(missing.utf8)]).decode(Header.Chunk.self)
        }
        let file = Header.ModelFile(path: "/m/model.safetensors", size: 10, headerDigest: 0xEF46_DB37_51D8_E999)
        #expect(try object(JSONEncoder().encode(file))["headerDigest"] as? String == "17241709254077376921")
    }

    @Test("a merge's setup and TASK work are the documented JSON: seed as a string, parameters as plain values")
    func mergeBodies() throws {
        let plan = try Harness.plan("linear")
        let job = try MergeJob(plan: plan, directory: Harness.output("json"), options: MergeOptions(threads: 1, seed: 1 << 60))
        defer { job.abandon() }
        let setup = try object(job.setup)
        #expect(setup["method"] as? String == "linear")
        #expect(setup["seed"] as? String == "1152921504606846976")
        #expect(setup["outputDType"] as? String == "F32")
        let work = try object(job.tasks[0].work)
        #expect(Set(work.keys) == ["name", "shape", "inputs", "parameters", "outputBytes", "inputBytes"], "no base: the key is absent")
        #expect(work["parameters"] as? [String: Bool] == ["normalize": true])
        let inputs = try #require(work["inputs"] as? [[String: Any]])
        #expect(inputs.map { $0["model"] as? Int } == [0, 1, 2])
        #expect(inputs.map { ($0["parameters"] as? [String: Double])?["weight"] } == [0.5, 0.3, 0.2])
        #expect(!String(decoding: job.tasks[0].work, as: UTF8.self).contains("_0"))
    }
}
