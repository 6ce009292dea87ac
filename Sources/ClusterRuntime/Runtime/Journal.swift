import Foundation
import JobModel
import TensorIO

/// The journal of finished tasks that makes a job resumable: a first line naming the job's
/// digest and the chunk size its part digests are made of, then one line per finished task
/// with the digest of each of its persistent parts (`JobOutput.digest`), each line fsynced
/// before the task counts as done. A resumed run reuses a task only if the output still
/// holds bytes with those digests. The output's layout (shards) is checked by the output's
/// writer itself, before anything is written.
final class Journal {
    struct Entry: Codable {
        var task: Int
        var digests: [UInt64]
    }

    let path: String
    private let handle: FileHandle

    /// Starts a journal for a job with `digest` holding `entries` (the tasks a resumed run
    /// verified), replacing any old one.
    init(creating path: String, digest: UInt64, chunkBytes: Int, entries: [Entry] = []) throws {
        self.path = path
        var text = Journal.firstLine(digest: digest, chunkBytes: chunkBytes) + "\n"
        for entry in entries { text += String(decoding: try Journal.encoder.encode(entry), as: UTF8.self) + "\n" }
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw ClusterError(description: "\(path): cannot create the job journal")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.synchronize()
    }

    /// Sorted keys: every line of a journal has the same form.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static func firstLine(digest: UInt64, chunkBytes: Int) -> String {
        "crucible-journal 2 \(String(digest, radix: 16)) \(chunkBytes)"
    }

    /// The finished tasks an interrupted run recorded and the chunk size of their digests,
    /// if `path` is a journal of a job with `digest`; throws when it belongs to another job.
    static func entries(at path: String, digest: UInt64) throws -> (entries: [Entry], chunkBytes: Int)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let words = lines.first?.split(separator: " ") ?? []
        guard words.count == 4, words[0] == "crucible-journal", words[1] == "2", words[2] == String(digest, radix: 16),
              let chunkBytes = Int(words[3]), chunkBytes > 0 else {
            throw ClusterError(description: "\(path) belongs to a different job (config, models, seed or options changed); "
                + "remove the .partial folder to start over")
        }
        lines.removeFirst()
        // A line cut short by a crash is simply not a finished task.
        return (lines.compactMap { try? JSONDecoder().decode(Entry.self, from: Data($0.utf8)) }, chunkBytes)
    }

    /// Records a finished task durably.
    func append(_ entry: Entry) throws {
        var line = try Journal.encoder.encode(entry)
        line.append(0x0A)
        try handle.write(contentsOf: line)
        try handle.synchronize()
    }

    func close() { try? handle.close() }
}
