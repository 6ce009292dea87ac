import ClusterRuntime
import Foundation
import MergeEngine
import TensorIO

/// What the cluster tests share: the golden fixtures, the built `crucible` binary, fresh
/// output folders, free ports, launched processes and their logs.
enum Harness {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let fixtures = URL(fileURLWithPath: repository).deletingLastPathComponent().appendingPathComponent("shared/fixtures/mergekit-golden").path
    static let binary: String = {
        let next = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("crucible").path
        return FileManager.default.isExecutableFile(atPath: next) ? next : repository + "/.build/debug/crucible"
    }()

    /// A path inside a fresh temporary folder (the path itself does not exist).
    static func output(_ label: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crucible-cluster-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(label).path
    }

    static func plan(_ name: String) throws -> MergePlan {
        let text = try String(contentsOfFile: "\(fixtures)/cases/\(name)/config.yml", encoding: .utf8)
        return try Planner.plan(try ConfigParser.parse(text), options: PlanOptions(workingDirectory: fixtures))
    }

    /// A config file for `method` over the fixture models, with absolute paths.
    static func config(_ method: String) throws -> String {
        let m = fixtures + "/models"
        let yaml: String
        switch method {
        case "dare_ties":
            yaml = """
                models:
                  - {model: \(m)/ft0, parameters: {weight: 0.6, density: 0.4}}
                  - {model: \(m)/ft2, parameters: {weight: 0.4, density: 0.7}}
                merge_method: dare_ties
                base_model: \(m)/base
                dtype: bfloat16
                """
        default:
            return "\(fixtures)/cases/\(method)/config.yml"
        }
        let path = output("config") + ".yml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every safetensors file of an output folder, by name.
    static func tensors(_ folder: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".safetensors") {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
        }
        return files
    }

    /// A free TCP port on loopback (bound, read, released).
    static func freePort() throws -> Int {
        let socket = try ZMQSocket(try ZMQContext(), .router)
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = try socket.lastEndpoint()
        socket.close()
        return Int(endpoint.split(separator: ":").last!)!
    }

    /// A running `crucible` (or other) process whose standard error (and output) go to a log file.
    final class Launched {
        let process = Process()
        let log: String

        init(_ arguments: [String], executable: String = Harness.binary, in directory: String = Harness.fixtures) throws {
            log = Harness.output("log") + ".txt"
            FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        /// Waits up to `seconds` for the process to exit; kills it if it does not.
        @discardableResult
        func wait(_ seconds: Double = 90) -> Int32? {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            return process.terminationStatus
        }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    /// Runs `crucible ARGS` to completion.
    static func crucible(_ arguments: [String], in directory: String = fixtures) throws -> (status: Int32?, output: String) {
        let run = try Launched(arguments, in: directory)
        let status = run.wait()
        return (status, run.output)
    }

    /// Lines in the journal of an interrupted output folder (the first names the job).
    static func journalLines(_ output: String) -> Int {
        ((try? String(contentsOfFile: output + ".partial/.crucible-journal", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    /// Waits until `condition` holds, up to `seconds`.
    static func waitUntil(_ seconds: Double = 30, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { return false }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return true
    }
}
