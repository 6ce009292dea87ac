import ArgumentParser
import ClusterRuntime
import Foundation

/// How a job runs: embedded workers, remote workers (`--listen`), keys, resume and logs
/// (docs/protocol.md, docs/operations.md). Shared by every command that runs a job.
struct ClusterCommandOptions: ParsableArguments {
    @Option(help: "Accept remote workers on this endpoint, e.g. tcp://0.0.0.0:5555 (repeatable).")
    var listen: [String] = []

    @Option(help: "In-process workers besides remote ones (default 1, using every thread; 0 = remote only).")
    var localWorkers = 1

    @Option(help: "Wait for this many workers before starting (default: 1).")
    var minWorkers = 1

    @Option(help: ArgumentHelp("CURVE keys: DIR/key.{public,secret}; workers allowed: DIR/authorized/*.public (env: CRUCIBLE_KEYS).", valueName: "DIR"))
    var keys: String?

    @Flag(help: "Allow --listen on a non-loopback address without --keys (traffic unencrypted, anyone may connect).")
    var insecure = false

    @Flag(help: "Continue an interrupted run, reusing what it finished (merge, prune: verified tensors in OUT_DIR.partial; sweep: recorded variants).")
    var resume = false

    @Option(help: ArgumentHelp("Take a task back from a worker that makes no progress on it for this long, plus 1 s per MiB of the task's bytes (default 120).", valueName: "SECONDS"))
    var taskTimeout = 120.0

    @Option(help: ArgumentHelp("Recompute this percentage of the tasks remote workers finish on a second worker (in-process ones first) and compare the results bit for bit; a worker whose result is contradicted is dropped (docs/operations.md).", valueName: "PERCENT"))
    var verify = 0.0

    @Option(help: "Log lines as text or as JSON objects (one per line, on standard error).")
    var logFormat: LogFormat = .text

    @Option(help: .hidden) var heartbeatMs = 1000
    @Option(help: .hidden) var liveness = 5
    @Option(help: .hidden) var chunkBytes = 4 << 20

    var keyDirectory: String? { keys ?? ProcessInfo.processInfo.environment["CRUCIBLE_KEYS"] }

    func validate() throws {
        guard localWorkers >= 0, minWorkers >= 0 else { throw ValidationError("--local-workers and --min-workers must be ≥ 0") }
        guard localWorkers > 0 || (!listen.isEmpty && minWorkers > 0) else {
            throw ValidationError("--local-workers 0 needs --listen and --min-workers ≥ 1 (someone has to do the work)")
        }
        guard verify >= 0, verify <= 100 else { throw ValidationError("--verify takes a percentage from 0 to 100") }
        guard verify == 0 || localWorkers > 0 || minWorkers >= 2 else {
            throw ValidationError("--verify needs a second worker to recompute on: keep an in-process worker or set --min-workers 2")
        }
        guard taskTimeout > 0, taskTimeout.isFinite else { throw ValidationError("--task-timeout must be a positive number of seconds") }
        guard heartbeatMs > 0, liveness > 0, chunkBytes >= 4096 else { throw ValidationError("heartbeat, liveness and chunk size must be positive") }
        for endpoint in listen where !JobRuntime.isLocal(endpoint) && keyDirectory == nil && !insecure {
            throw ValidationError("--listen \(endpoint) is reachable from other hosts; give --keys DIR (CURVE, docs/operations.md) "
                + "or pass --insecure to accept unencrypted traffic from anyone")
        }
    }

    /// The runtime options for a job computed with `threads` local threads.
    func runtime(threads: Int) throws -> RuntimeOptions {
        var cluster = ClusterOptions(endpoints: listen)
        cluster.minWorkers = max(minWorkers, 1)
        cluster.heartbeatMs = heartbeatMs
        cluster.liveness = liveness
        cluster.chunkBytes = chunkBytes
        cluster.leaseSeconds = taskTimeout
        cluster.verifyPercent = verify
        var options = RuntimeOptions(cluster: cluster)
        options.localWorkers = localWorkers
        options.threads = threads
        options.resume = resume
        if let directory = keyDirectory, !listen.isEmpty {
            options.keys = try CLIError.wrap { try KeyDirectory(directory) }
            _ = try CLIError.wrap { try options.keys!.authorizedKeys() }
        }
        return options
    }
}

/// `--log-format`.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
