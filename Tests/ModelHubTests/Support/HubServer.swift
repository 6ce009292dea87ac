import Foundation
import TestSupport

/// The stand-in Hub of `hub_server.py`, running for one test on 127.0.0.1 (and a second port,
/// the "CDN host" its redirects point to as `localhost`); it logs every request it gets.
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
        /// The port it came in on: `endpoint`'s or `cdnEndpoint`'s.
        let port: Int
        /// The client's address.
        let client: String
    }

    /// A request answered: the body bytes sent to the client.
    struct Answer: Decodable {
        let path: String
        let client: String
        let sent: Int
    }

    let endpoint: String
    /// The second port, as redirects name it (`http://localhost:PORT`).
    let cdnEndpoint: String
    private let log: String
    /// The server runs while its standard input is open: it exits when that closes.
    private let process: LaunchedProcess

    /// `hold`: a weights file whose first `after` bytes are sent at once, the rest only once
    /// a file exists at `until`. `stall`: the first `times` downloads of a weights file send
    /// `after` bytes, then nothing. `drip`: the listing is sent one byte every `drip` seconds;
    /// `endless`: it never ends; `extra`: it names that many more top-level `.safetensors`
    /// files, which the repository does not have. `folders`: plain folders served under
    /// `/files/NAME/` (see `folderURL`); `fail`: after the first `skip`, `times` requests for a
    /// file's bytes answer HTTP `status`; `redirect`: a folder file answered with a redirect to the CDN host.
    /// `slow`: ranges of a file from `from` on wait `seconds` before their body; `shift`: they
    /// are answered with the bytes one further on. `host`: where it is, as clients name it;
    /// with `launcher` (a command prefix: `ip netns exec NS`) it runs through that, listening on
    /// every address, its redirects naming `cdnHost`.
    init(_ repositories: [String: Repository] = [:], token: String? = nil, cut: (file: String, after: Int, times: Int)? = nil,
         tamper: String? = nil, hold: (file: String, after: Int, until: String)? = nil,
         stall: (file: String, after: Int, times: Int)? = nil, drip: Double? = nil, endless: Bool = false, extra: Int = 0,
         folders: [String: String] = [:], fail: (file: String, times: Int, status: Int, skip: Int)? = nil, redirect: String? = nil,
         slow: (file: String, from: Int, seconds: Double)? = nil, shift: (file: String, from: Int)? = nil,
         launcher: [String] = [], host: String = "127.0.0.1", cdnHost: String = "localhost") throws {
        let folder = TemporaryFolder.make("hub-server")
        log = folder + "/requests.jsonl"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        var spec: [String: Any] = [
            "repos": repositories.mapValues { ["sha": $0.commit, "private": $0.isPrivate, "files": $0.files] as [String: Any] },
        ]
        if let token { spec["token"] = token }
        if let cut { spec["cut"] = ["file": cut.file, "after": cut.after, "times": cut.times] }
        if let tamper { spec["tamper"] = tamper }
        if let hold { spec["hold"] = ["file": hold.file, "after": hold.after, "until": hold.until] }
        if let stall { spec["stall"] = ["file": stall.file, "after": stall.after, "times": stall.times] }
        if let drip { spec["drip"] = drip }
        if endless { spec["endless"] = true }
        if extra > 0 { spec["extra"] = extra }
        spec["folders"] = folders
        if let fail { spec["fail"] = ["file": fail.file, "times": fail.times, "status": fail.status, "skip": fail.skip] }
        if let redirect { spec["redirect"] = ["file": redirect] }
        if let slow { spec["slow"] = ["file": slow.file, "from": slow.from, "seconds": slow.seconds] }
        if let shift { spec["shift"] = ["file": shift.file, "from": shift.from] }
        if !launcher.isEmpty { spec["bind"] = "0.0.0.0" }
        spec["cdn_host"] = cdnHost
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: folder + "/spec.json"))

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("hub_server.py").path
        let command = ["python3", script, folder + "/spec.json", log]
        let server = try LaunchedProcess(launcher.isEmpty ? command : Array(launcher.dropFirst()) + ["/usr/bin/env"] + command,
                                         executable: launcher.first ?? "/usr/bin/env", separateErrors: true, holdInput: true)
        process = server
        // Its first two lines are the ports.
        guard Poll.until(60, { server.output.split(separator: "\n").count == 2 && server.output.hasSuffix("\n") }) else {
            throw HubFixture.Failure("hub_server.py printed no ports (it ended, or took over 60 s): \(server.errors)")
        }
        let ports = server.output.split(separator: "\n")
        endpoint = "http://\(host):" + ports[0]
        cdnEndpoint = "http://\(cdnHost):" + ports[1]
    }

    /// The URL of folder `name` of `folders`.
    func folderURL(_ name: String) -> String { endpoint + "/files/" + name }

    deinit {
        process.closeInput()
        process.wait()
    }

    /// Every request answered so far, with the bytes sent.
    var answers: [Answer] {
        get throws {
            let text = (try? String(contentsOfFile: log + ".sent", encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try JSONDecoder().decode(Answer.self, from: Data($0.utf8)) }
        }
    }

    /// Every request so far, in order.
    var requests: [Request] {
        get throws {
            try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
                .map { try JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
        }
    }
}
