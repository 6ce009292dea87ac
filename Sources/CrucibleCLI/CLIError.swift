import ArgumentParser
import ClusterRuntime
import Foundation

/// An error shown to the user as one readable line, exiting with status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String

    init(_ message: String) { description = message }

    /// Runs `body`, turning any error into a `CLIError` carrying its description; a job
    /// stopped by SIGINT/SIGTERM exits with status 130 after saying how to resume.
    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as CLIError { throw error } catch let exit as ExitCode { throw exit } catch let stop as JobInterrupted {
            FileHandle.standardError.write(Data("crucible: \(stop)\n".utf8))
            throw ExitCode(130)
        } catch {
            throw CLIError("\(error)")
        }
    }
}
