import ClusterRuntime
import Foundation
import JobModel
import Synchronization
import TensorIO
import Testing

/// What a probe runner saw: the most tasks computing at once, and the thread counts given.
final class ConcurrencyProbe: Sendable {
    private let state = Mutex<(running: Int, most: Int, threads: Set<Int>)>((0, 0, []))

    func computing(threads: Int, _ body: () -> Void) {
        state.withLock { $0.running += 1; $0.most = max($0.most, $0.running); $0.threads.insert(threads) }
        body()
        state.withLock { $0.running -= 1 }
    }

    var most: Int { state.withLock { $0.most } }
    var threads: Set<Int> { state.withLock { $0.threads } }
}

/// A runner whose tasks take 40 ms and write an 8-byte record; `Alone` says it computes alone.
protocol ProbeRunner: TaskRunner, JobKind {
    static var probe: ConcurrencyProbe { get }
}

extension ProbeRunner {
    func run(_ work: [UInt8], inputs: any TaskInputs, threads: Int, into sink: TaskSink) throws {
        Self.probe.computing(threads: threads) { usleep(40_000) }
        try sink.fill(0, 0..<8) { $0.storeBytes(of: UInt64(threads), as: UInt64.self) }
    }
}

struct SharingProbe: ProbeRunner {
    static let name = "probe-sharing"
    static let probe = ConcurrencyProbe()
    static func runner(setup: [UInt8]) throws -> any TaskRunner { SharingProbe() }
}

struct AloneProbe: ProbeRunner {
    static let name = "probe-alone"
    static let probe = ConcurrencyProbe()
    static func runner(setup: [UInt8]) throws -> any TaskRunner { AloneProbe() }
    var computesAlone: Bool { true }
}

/// Eight tasks of one probe kind, each filling a record.
final class ProbeJob: DistributedJob {
    let jobKind: any JobKind.Type
    let setup: [UInt8] = []
    let models: [Checkpoint] = []
    let tasks: [JobTask]
    let output: JobOutput

    init(kind: any JobKind.Type) {
        jobKind = kind
        tasks = (0..<8).map { JobTask(label: "p\($0)", work: [], inputs: [], parts: [TaskPart(target: 0, name: "p\($0)", bytes: 8, elementWidth: 8)]) }
        output = JobOutput(targets: [.records(RecordStore())], journalPath: nil)
    }

    func finish() throws {}
    func abandon() {}
}

@Suite struct TaskConcurrencyTests {
    func run(_ kind: any JobKind.Type) throws {
        var options = RuntimeOptions()
        options.threads = 4
        let report = try JobRuntime.run(ProbeJob(kind: kind), options: options)
        #expect(report.tasks == 8)
    }

    @Test("an in-process worker of 4 threads gives a tensor task 2 threads while another is scheduled, but eval-like tasks all 4, one at a time")
    func computesAlone() throws {
        #expect(WorkerOptions(endpoint: "inproc://w", threads: 4, kinds: []).tasksAtOnce == 2)
        // How many tasks overlap also depends on Dispatch's thread pool (in a test process it
        // may run one at a time); the threads each was given do not.
        try run(SharingProbe.self)
        #expect(SharingProbe.probe.threads.contains(2), "\(SharingProbe.probe.threads)")
        try run(AloneProbe.self)
        #expect(AloneProbe.probe.most == 1)
        #expect(AloneProbe.probe.threads == [4])
    }
}
