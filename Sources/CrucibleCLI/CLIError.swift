import ArgumentParser
import Foundation

/// An error shown to the user as one readable line, exiting with status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String

    init(_ message: String) { description = message }

    /// Runs `body`, turning any error into a `CLIError` carrying its description (an
    /// `ExitCode`, e.g. 130 from `JobExecution` after SIGINT/SIGTERM, passes through).
    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as CLIError { throw error } catch let exit as ExitCode { throw exit } catch {
            throw CLIError("\(error)")
        }
    }
}
