import Foundation

/// A process running in the background. Its standard output and error go to log files, not
/// pipes, so a chatty process never blocks on a full pipe, and what it wrote so far can be read
/// while it runs; it is killed if still running when the object goes away.
public final class LaunchedProcess {
    public let process = Process()
    /// The file standard output goes to (standard error too, unless launched with `separateErrors`).
    public let log: String
    /// The file standard error goes to: `log` itself unless launched with `separateErrors`.
    public let errorLog: String
    /// The write end of standard input, with `holdInput`, until `closeInput()`.
    private let input: Pipe?

    /// Starts `executable` (by default the built `crucible`) with `arguments` in `directory`
    /// (by default the current one), with `environment` as its whole environment (by default
    /// this process's). With `holdInput`, its standard input is a pipe that stays open, without
    /// data, until `closeInput()` or the object goes away (a process that reads it to its end
    /// runs until then); otherwise it shares this process's standard input.
    public init(_ arguments: [String], executable: String = CrucibleBinary.path, in directory: String? = nil,
                environment: [String: String]? = nil, separateErrors: Bool = false, holdInput: Bool = false) throws {
        let folder = TemporaryFolder.make("process")
        log = folder + "/output.txt"
        errorLog = separateErrors ? folder + "/errors.txt" : log
        input = holdInput ? Pipe() : nil
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let output = try Self.handle(log)
        process.standardOutput = output
        process.standardError = separateErrors ? try Self.handle(errorLog) : output
        if let input { process.standardInput = input }
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

    /// Waits up to `seconds` until `output` contains `text`: false if the process ends or the
    /// time passes first (it is left running).
    public func waitForOutput(containing text: String, timeout seconds: Double = 20) -> Bool {
        waitFor(text, seconds) { $0.output }
    }

    /// Waits up to `seconds` until `errors` contains `text`: false if the process ends or the
    /// time passes first (it is left running).
    public func waitForErrors(containing text: String, timeout seconds: Double = 20) -> Bool {
        waitFor(text, seconds) { $0.errors }
    }

    private func waitFor(_ text: String, _ seconds: Double, in written: (LaunchedProcess) -> String) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !written(self).contains(text) {
            // What it wrote before it ended (or the time ran out) still counts.
            guard process.isRunning && Date() < deadline else { return written(self).contains(text) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }

    /// Waits up to `seconds` for the process to exit and returns its status (or the number of
    /// the signal that ended it); kills it and returns nil if it is still running by then.
    @discardableResult
    public func wait(_ seconds: Double = 90) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill()
            return nil
        }
        return process.terminationStatus
    }

    /// Sends signal `number` to the process.
    public func signal(_ number: Int32) { send(number, to: process.processIdentifier) }

    /// Ends the process with SIGKILL (what a crash or an OOM kill does) and waits until it is gone.
    public func kill() {
        guard process.isRunning else { return }
        signal(SIGKILL)
        process.waitUntilExit()
    }

    /// Closes standard input (launched with `holdInput`): a process reading it sees its end.
    public func closeInput() { try? input?.fileHandleForWriting.close() }

    deinit {
        closeInput()
        kill()
    }
}

/// `kill(2)`, out of reach of the method of that name.
private func send(_ signal: Int32, to process: pid_t) { kill(process, signal) }
