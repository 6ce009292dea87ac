import Foundation

/// The stand-in Hub of `hub_server.py`, running for one test on 127.0.0.1; it logs every
/// request it gets.
final class HubServer {
    struct Repository {
        var commit: String
        var isPrivate = false
        /// File name in the repository → local file served as it.
        var files: [String: String]
    }

    struct Request: Decodable {
        let method: String
        let path: String
        let range: String?
        let authorization: String?
    }

    let endpoint: String
    private let log: String
    private let process = Process()
    /// Open while the server should run: the server exits when it closes.
    private let input = Pipe()

    /// `hold`: a weights file whose first `after` bytes are sent at once, the rest only once
    /// a file exists at `until`.
    init(_ repositories: [String: Repository], token: String? = nil, cut: (file: String, after: Int, times: Int)? = nil,
         tamper: String? = nil, hold: (file: String, after: Int, until: String)? = nil) throws {
        let folder = HubFixture.temporaryDirectory("hub-server")
        log = folder + "/requests.jsonl"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        var spec: [String: Any] = [
            "repos": repositories.mapValues { ["sha": $0.commit, "private": $0.isPrivate, "files": $0.files] as [String: Any] },
        ]
        if let token { spec["token"] = token }
        if let cut { spec["cut"] = ["file": cut.file, "after": cut.after, "times": cut.times] }
        if let tamper { spec["tamper"] = tamper }
        if let hold { spec["hold"] = ["file": hold.file, "after": hold.after, "until": hold.until] }
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: folder + "/spec.json"))

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("hub_server.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, folder + "/spec.json", log]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw HubFixture.Failure("hub_server.py exited before printing its port") }
            line.append(chunk)
        }
        endpoint = "http://127.0.0.1:" + String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Every request so far, in order.
    var requests: [Request] {
        get throws {
            try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
                .map { try JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
        }
    }
}
