import Foundation

/// A process running in the background. Its standard output and error go to log files, not
/// pipes, so a chatty process never blocks on a full pipe; it is killed if still running when
/// the object goes away.
public final class LaunchedProcess {
    public let process = Process()
    /// The file standard output goes to (standard error too, unless launched with `separateErrors`).
    public let log: String
    /// The file standard error goes to: `log` itself unless launched with `separateErrors`.
    public let errorLog: String

    /// Starts `executable` (by default the built `crucible`) with `arguments` in `directory`
    /// (by default the current one).
    public init(_ arguments: [String], executable: String = CrucibleBinary.path, in directory: String? = nil,
                separateErrors: Bool = false) throws {
        let folder = TemporaryFolder.make("process")
        log = folder + "/output.txt"
        errorLog = separateErrors ? folder + "/errors.txt" : log
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = try Self.handle(log)
        process.standardOutput = output
        process.standardError = separateErrors ? try Self.handle(errorLog) : output
        try process.run()
    }

    private static func handle(_ path: String) throws -> FileHandle {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    /// What it wrote to `log` so far.
    public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// What it wrote to `errorLog` so far.
    public var errors: String { (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for the process to exit and returns its status (or the number of
    /// the signal that ended it); kills it and returns nil if it is still running by then.
    @discardableResult
    public func wait(_ seconds: Double = 90) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    /// Sends signal `number` to the process.
    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
