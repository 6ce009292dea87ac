import ArgumentParser
import ClusterRuntime
import Foundation

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Compute tensors for a coordinator (crucible merge --listen ...).",
        discussion: """
            Connects to the coordinator, reads the job's models from the same paths (or rewritten with
            --model-root), computes the tensors it is given on all cores, and exits when the job is done.

            Example:
              crucible worker --connect tcp://10.0.0.1:5555 -j 16 --model-root /data/models=/mnt/models
            """
    )

    @Option(help: "The coordinator's endpoint (env: CRUCIBLE_CONNECT).")
    var connect: String?

    @Option(name: [.customShort("j"), .customLong("threads")], help: "Threads to compute with (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Rewrite model paths: FROM=TO (repeatable).")
    var modelRoot: [String] = []

    @Option(help: .hidden) var crashAfterTasks: Int?

    func run() throws {
        guard let endpoint = connect ?? ProcessInfo.processInfo.environment["CRUCIBLE_CONNECT"] else {
            throw ValidationError("give --connect ENDPOINT (or set CRUCIBLE_CONNECT)")
        }
        var options = WorkerOptions(endpoint: endpoint, threads: threads)
        options.crashAfterTasks = crashAfterTasks
        options.modelRoots = try modelRoot.map { rule in
            let parts = rule.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--model-root \(rule): expected FROM=TO") }
            return (parts[0], parts[1])
        }
        let worker = Worker(context: try ZMQContext(), options: options) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        try CLIError.wrap { try worker.run() }
    }
}
