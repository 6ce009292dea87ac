import ClusterRuntime
import Foundation
import MergeEngine
import TensorIO
import TestSupport

/// What the cluster tests share: merge plans and configs over the golden fixtures, free ports,
/// `crucible` processes run in the fixture folder, their journals.
enum Harness {
    /// A path inside a fresh temporary folder (the path itself does not exist).
    static func output(_ label: String) -> String { TemporaryFolder.path(label, label: "cluster") }

    static func plan(_ name: String) throws -> MergePlan {
        let text = try String(contentsOfFile: "\(Fixtures.golden)/cases/\(name)/config.yml", encoding: .utf8)
        return try Planner.plan(try ConfigParser.parse(text), options: PlanOptions(workingDirectory: Fixtures.golden))
    }

    /// A config file for `method` over the fixture models, with absolute paths.
    static func config(_ method: String) throws -> String {
        let m = Fixtures.goldenModels
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
            return "\(Fixtures.golden)/cases/\(method)/config.yml"
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

    /// Starts `crucible ARGS` (or `executable`) in `directory`, standard output and error
    /// going to one log.
    static func launch(_ arguments: [String], executable: String = CrucibleBinary.path, in directory: String = Fixtures.golden) throws -> LaunchedProcess {
        try LaunchedProcess(arguments, executable: executable, in: directory)
    }

    /// Runs `crucible ARGS` to completion (status nil if it ran past 90 s); `output` holds
    /// standard output and error as written.
    static func crucible(_ arguments: [String], in directory: String = Fixtures.golden) throws -> ProcessResult {
        try CrucibleBinary.run(arguments, in: directory, mergeErrors: true)
    }

    /// Lines in the journal of an interrupted output folder (the first names the job).
    static func journalLines(_ output: String) -> Int {
        ((try? String(contentsOfFile: output + ".partial/.crucible-journal", encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}
