import Foundation
import Glibc
import Synchronization

/// The built `crucible` executable run as a process of its own, with the environment of a
/// test (no `HF_` variables but those given): its standard error can be read while it runs,
/// and it is killed if it outlives the test.
final class CrucibleProcess: Sendable {
    /// `crucible` next to the test bundle (`swift build --build-tests` builds both).
    static let binary: String = {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleDirectory.appendingPathComponent("crucible").path, repository + "/.build/debug/crucible"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
    }()

    private let process = Process()
    private let errors = Mutex(Data())
    private let errorsClosed = DispatchSemaphore(value: 0)

    init(_ arguments: [String], environment: [String: String]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw HubFixture.Failure("\(Self.binary): no crucible executable; build the package first")
        }
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HF_") }
            .merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardError = pipe
        try process.run()
        DispatchQueue.global().async { [self] in
            while true {
                let data = pipe.fileHandleForReading.availableData
                if data.isEmpty { break }
                errors.withLock { $0.append(data) }
            }
            errorsClosed.signal()
        }
    }

    deinit { kill() }

    /// Standard error so far.
    var standardError: String { String(decoding: errors.withLock { $0 }, as: UTF8.self) }

    /// Waits until standard error contains `text`: false if the process ends or `timeout`
    /// passes first.
    func waitForError(containing text: String, timeout: Duration = .seconds(20)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !standardError.contains(text) {
            guard process.isRunning, ContinuousClock.now < deadline else { return standardError.contains(text) }
            usleep(10_000)
        }
        return true
    }

    /// The exit status once the process ends; nil if it is still running after `timeout`
    /// (it is killed then).
    func exitStatus(timeout: Duration = .seconds(20)) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill()
                return nil
            }
            usleep(10_000)
        }
        errorsClosed.wait()
        errorsClosed.signal()
        return process.terminationStatus
    }

    /// Ends the process with SIGKILL (what a crash or an OOM kill does) and waits for it.
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
