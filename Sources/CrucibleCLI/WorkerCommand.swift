import ArgumentParser
import ClusterRuntime
import Foundation
import ModelHub
import TensorIO

extension WireCompression: ExpressibleByArgument {}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Compute tasks for a coordinator (crucible merge|prune|sweep|analyze --listen ...).",
        discussion: """
            Connects to the coordinator and computes the tasks it is given on -j threads (default: \
            all cores), up to --concurrent-tasks at once. It reads the job's models itself when its \
            copies match the coordinator's (same size and header digest; same paths, or rewritten \
            with --model-root), and otherwise has them shipped over the wire. If the coordinator \
            goes away it reconnects with backoff; it exits when the job is done (between the \
            batches of a sweep it stays, ready for the next one).

            A model the coordinator reads from the Hugging Face Hub or a folder URL \
            (--range-reads) that is not on this host (at its path, under --model-root, or in the \
            Hub cache) is read by fetching the byte ranges of its tasks' tensors from the Hub \
            (HF_ENDPOINT, HF_TOKEN) or the URL; with HF_HUB_OFFLINE=1 or --no-fetch its inputs \
            are shipped instead (docs/remote-models.md).

            With --keys DIR it uses CURVE: its own DIR/key.{public,secret} and the coordinator's \
            DIR/coordinator.public (docs/operations.md).

            Examples:
              crucible worker --connect tcp://10.0.0.1:5555 --keys /etc/crucible/keys -j 16
              crucible worker --connect tcp://10.0.0.1:5555 --model-root /data/models=/mnt/models
              HF_TOKEN=hf_xxx crucible worker --connect tcp://10.0.0.1:5555 --keys /etc/crucible/keys
              CRUCIBLE_CONNECT=tcp://10.0.0.1:5555 CRUCIBLE_KEYS=/etc/crucible/keys crucible worker
            """
    )

    @Option(help: "The coordinator's endpoint (env: CRUCIBLE_CONNECT).")
    var connect: String?

    @Option(name: [.customShort("j"), .customLong("threads")], help: "Threads to compute with (env: CRUCIBLE_THREADS; default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("CURVE keys: DIR/key.{public,secret} and DIR/coordinator.public (env: CRUCIBLE_KEYS).", valueName: "DIR"))
    var keys: String?

    @Option(help: "Rewrite model paths: FROM=TO (repeatable).")
    var modelRoot: [String] = []

    @Flag(help: "Do not read model files here; have the coordinator ship every input.")
    var noSharedStorage = false

    @Flag(help: "Do not fetch remote models' byte ranges from here; have the coordinator ship their inputs.")
    var noFetch = false

    @Option(help: ArgumentHelp("The Hugging Face cache to look for a remote model's files in (default: HF_HUB_CACHE).", valueName: "DIR"))
    var hubCache: String?

    @Option(help: "Compress payloads: auto (not when the coordinator is on this host), always, never.")
    var wireCompression: WireCompression = .auto

    @Option(help: "Tensor tasks computed at once, sharing the threads (default: one per 4 threads, at least 2; eval tasks run one at a time on every thread).")
    var concurrentTasks: Int?

    @Option(help: .hidden) var crashAfterTasks: Int?

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let endpoint = connect ?? environment["CRUCIBLE_CONNECT"] else {
            throw ValidationError("give --connect ENDPOINT (or set CRUCIBLE_CONNECT)")
        }
        let threadCount = try threads ?? environment["CRUCIBLE_THREADS"].map { text in
            guard let n = Int(text), n >= 1 else { throw ValidationError("CRUCIBLE_THREADS=\(text) is not a thread count") }
            return n
        } ?? ProcessInfo.processInfo.activeProcessorCount
        guard threadCount >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let n = concurrentTasks, n < 1 || n > threadCount {
            throw ValidationError("--concurrent-tasks must be between 1 and the thread count (\(threadCount))")
        }
        var options = WorkerOptions(endpoint: endpoint, threads: threadCount, kinds: JobKinds.builtIn)
        options.concurrentTasks = concurrentTasks
        options.crashAfterTasks = crashAfterTasks
        options.noSharedStorage = noSharedStorage
        options.compression = wireCompression
        if !noFetch {
            var hub = environment
            if let hubCache { hub["HF_HUB_CACHE"] = hubCache }
            options.openRemote = Self.remoteOpener(HubSettings(environment: hub))
        }
        options.modelRoots = try modelRoot.map { rule in
            let parts = rule.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--model-root \(rule): expected FROM=TO") }
            return (parts[0], parts[1])
        }
        if let directory = keys ?? environment["CRUCIBLE_KEYS"] {
            options.keys = try CLIError.wrap {
                let keys = try KeyDirectory(directory)
                return (keys.pair, try keys.coordinatorKey())
            }
        } else if !JobRuntime.isLocal(endpoint) {
            FileHandle.standardError.write(Data("worker: no --keys; talking to \(endpoint) unencrypted\n".utf8))
        }
        let worker = Worker(context: try ZMQContext(), options: options) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        try CLIError.wrap { try worker.run() }
    }

    /// `WorkerOptions.openRemote`: a Hub model's snapshot in this host's cache when it holds the
    /// weights, else the remote files, their headers read and checked against WELCOME's.
    static func remoteOpener(_ settings: HubSettings) -> @Sendable (Header.Model) throws -> Checkpoint {
        { model in
            let source: RemoteSource
            if let hub = model.hub {
                source = .hub(repository: hub.repository, commit: hub.commit)
            } else if let url = model.url {
                source = .folder(url: url)
            } else {
                throw ProtocolError.malformed("model \(model.path) is not remote")
            }
            if let copy = RemoteCheckpoint.cachedCopy(source, settings: settings) { return copy }
            let files = try model.files.map { file in
                guard let name = file.name, let headerBytes = file.headerBytes else {
                    throw ProtocolError.malformed("file \(file.path) of remote model \(model.path) has no name or headerBytes")
                }
                return RemoteCheckpoint.PlannedFile(name: name, size: file.size, headerBytes: headerBytes, headerDigest: file.headerDigest)
            }
            return try RemoteCheckpoint.fetching(source, path: model.path, files: files, settings: settings)
        }
    }
}
