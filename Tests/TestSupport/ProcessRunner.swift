import Foundation

/// What a process that ran to completion left behind.
public struct ProcessResult: Sendable {
    /// The exit status (or the number of the signal that ended it); nil when it ran past its
    /// time limit and was killed.
    public let status: Int32?
    public let stdout: String
    /// Standard error; empty when it was merged into `stdout`.
    public let stderr: String

    public init(status: Int32?, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Everything it wrote: standard output, then standard error.
    public var output: String { stdout + stderr }
}

/// Runs processes to completion and captures what they write.
public enum ProcessRunner {
    /// Runs `executable` with `arguments` in `directory` (by default the current one) and waits
    /// up to `timeout` seconds, then kills it (its status is then nil). With `mergeErrors`,
    /// standard error goes into `stdout`, interleaved as written.
    public static func run(_ executable: String, _ arguments: [String], in directory: String? = nil,
                           mergeErrors: Bool = false, timeout: Double = 90) throws -> ProcessResult {
        let launched = try LaunchedProcess(arguments, executable: executable, in: directory, separateErrors: !mergeErrors)
        let status = launched.wait(timeout)
        return ProcessResult(status: status, stdout: launched.output, stderr: mergeErrors ? "" : launched.errors)
    }

    /// Runs `command` with `/bin/sh -c`; standard error is merged into `stdout`.
    public static func shell(_ command: String, timeout: Double = 90) throws -> ProcessResult {
        try run("/bin/sh", ["-c", command], mergeErrors: true, timeout: timeout)
    }
}
