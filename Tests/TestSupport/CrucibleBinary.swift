import Foundation

/// The built `crucible` executable.
public enum CrucibleBinary {
    /// `crucible` next to the test bundle, else `.build/debug/crucible` in the repository.
    public static let path: String = {
        let next = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("crucible").path
        return FileManager.default.isExecutableFile(atPath: next) ? next : Fixtures.repository + "/.build/debug/crucible"
    }()

    /// Runs `crucible ARGS` in `directory` to completion, killed after `timeout` seconds (see
    /// `ProcessRunner.run`).
    public static func run(_ arguments: [String], in directory: String, mergeErrors: Bool = false,
                           timeout: Double = 90) throws -> ProcessResult {
        try ProcessRunner.run(path, arguments, in: directory, mergeErrors: mergeErrors, timeout: timeout)
    }
}
