import ArgumentParser
import ClusterRuntime

/// `--listen` and friends: serve remote workers over ZeroMQ (docs/protocol.md).
struct ClusterCommandOptions: ParsableArguments {
    @Option(help: "Accept remote workers on this endpoint, e.g. tcp://0.0.0.0:5555 (repeatable).")
    var listen: [String] = []

    @Option(help: "With --listen: in-process workers besides the remote ones (0 = remote only).")
    var localWorkers = 1

    @Option(help: "With --listen: wait for this many workers before starting (default: 1).")
    var minWorkers = 1

    @Flag(help: "Allow --listen on a non-loopback address without encryption.")
    var insecure = false

    @Option(help: .hidden) var heartbeatMs = 1000
    @Option(help: .hidden) var liveness = 5

    func validate() throws {
        guard localWorkers >= 0, minWorkers >= 0 else { throw ValidationError("--local-workers and --min-workers must be ≥ 0") }
        guard listen.isEmpty || localWorkers > 0 || minWorkers > 0 else {
            throw ValidationError("--local-workers 0 needs --min-workers ≥ 1 (someone has to do the work)")
        }
        for endpoint in listen where !ClusterMerge.isLocal(endpoint) && !insecure {
            throw ValidationError("--listen \(endpoint) is reachable from other hosts and traffic would be unencrypted; "
                + "CURVE keys are not wired into the runtime yet, so pass --insecure to accept that")
        }
    }

    func options() -> ClusterOptions {
        var options = ClusterOptions(endpoints: listen)
        options.minWorkers = max(minWorkers, 1)
        options.heartbeatMs = heartbeatMs
        options.liveness = liveness
        return options
    }
}
