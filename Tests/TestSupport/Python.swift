/// `python3` from PATH, for the independent reference implementations.
public enum Python {
    /// Runs `python3 ARGS` to completion, killed after `timeout` seconds (see `ProcessRunner.run`).
    public static func run(_ arguments: [String], timeout: Double = 90) throws -> ProcessResult {
        try ProcessRunner.run("/usr/bin/env", ["python3"] + arguments, timeout: timeout)
    }

    /// Whether python3 with numpy is on PATH (the references need both).
    public static let hasNumpy: Bool = (try? run(["-c", "import numpy"]).status) == 0
}
