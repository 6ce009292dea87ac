import ArgumentParser
import Foundation

/// `-j/--threads`, shared by every command that computes.
struct ThreadOptions: ParsableArguments {
    @Option(name: [.customShort("j"), .customLong("threads")], help: "Threads to compute with (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}
