import ClusterRuntime
import Foundation
import JobModel
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// Jobs through the coordinator with in-process workers give exactly the bytes of the
/// reference runner, however many workers share the work, and fail cleanly.
@Suite struct ClusterMergeTests {
    func runtime(localWorkers: Int, threads: Int = 2) -> RuntimeOptions {
        var options = RuntimeOptions()
        options.localWorkers = localWorkers
        options.threads = threads
        return options
    }

    @Test("in-process workers (one task at a time, or 3 at once) give the reference runner's bytes",
          arguments: ["linear", "ties", "ties_gradient_filter", "slerp", "dare_ties"])
    func inProcessWorkers(name: String) throws {
        let options = MergeOptions(threads: 2, seed: 3)
        let plan = try Planner.plan(try ConfigParser.parse(try String(contentsOfFile: try Harness.config(name), encoding: .utf8)),
                                    options: PlanOptions(workingDirectory: Fixtures.golden))
        let reference = Harness.output("reference")
        _ = try MergeRunner.run(plan, to: reference, options: options)
        // 12 threads make one worker compute 3 tasks at once (one per 4 threads).
        for (workers, threads) in [(1, 2), (3, 2), (1, 12)] {
            let out = Harness.output("cluster")
            let report = try JobRuntime.run(try MergeJob(plan: plan, directory: out, options: options),
                                            options: runtime(localWorkers: workers, threads: threads))
            #expect(report.tasks == plan.tensors.count && report.reused == 0)
            #expect(report.workers.map(\.tasks).reduce(0, +) == plan.tensors.count)
            #expect(try Harness.tensors(out) == Harness.tensors(reference), "\(name) with \(workers) workers of \(threads) threads")
            #expect(!FileManager.default.fileExists(atPath: out + "/.crucible-journal"), "the journal is gone from a finished output")
        }
    }

    @Test("compressed remote results in small chunks (workers computing 2 tasks at once), decoded on 1 or 4 result threads, give the reference runner's bytes")
    func resultThreads() throws {
        let options = MergeOptions(threads: 2, seed: 3)
        let plan = try Planner.plan(try ConfigParser.parse(try String(contentsOfFile: try Harness.config("ties"), encoding: .utf8)),
                                    options: PlanOptions(workingDirectory: Fixtures.golden))
        let reference = Harness.output("reference")
        _ = try MergeRunner.run(plan, to: reference, options: options)
        for threads in [1, 4] {
            let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
            var runtime = runtime(localWorkers: 0)
            runtime.cluster = ClusterOptions(endpoints: [endpoint])
            runtime.cluster.minWorkers = 2
            runtime.cluster.resultThreads = threads
            // Many chunks per task: a DONE often arrives while its task's chunks are still being written.
            runtime.cluster.chunkBytes = 4096
            let workers = (0..<2).map { _ in
                var workerOptions = WorkerOptions(endpoint: endpoint, threads: 2, kinds: [MergeTaskRunner.self])
                workerOptions.concurrentTasks = 2
                workerOptions.compression = .always
                let settings = workerOptions
                return Thread { _ = try? Worker(context: try ZMQContext(), options: settings).run() }
            }
            workers.forEach { $0.start() }
            let out = Harness.output("cluster")
            let report = try JobRuntime.run(try MergeJob(plan: plan, directory: out, options: options), options: runtime)
            #expect(report.workers.filter { !$0.local }.allSatisfy { $0.compressionRatio > 1 }, "results travelled compressed")
            #expect(report.workers.map(\.retries).reduce(0, +) == 0)
            #expect(try Harness.tensors(out) == Harness.tensors(reference), "\(threads) result threads")
        }
    }

    @Test("a tensor that fails every time fails the job at its first failure, naming it, and leaves no output")
    func failingTaskFailsTheJob() throws {
        // multislerp of x, −x and 0·y has no mean direction: every attempt at every tensor fails.
        let yaml = """
            models:
              - {model: \(Fixtures.golden)/models/ft0, parameters: {weight: 1}}
              - {model: \(Fixtures.golden)/models/ft0, parameters: {weight: -1}}
              - {model: \(Fixtures.golden)/models/ft1, parameters: {weight: 0}}
            merge_method: multislerp
            parameters: {normalize_weights: false}
            """
        for workers in [1, 3] {
            let out = Harness.output("failed")
            do {
                let job = try MergeJob(plan: try Planner.plan(try ConfigParser.parse(yaml)), directory: out, options: MergeOptions(threads: 1))
                _ = try JobRuntime.run(job, options: runtime(localWorkers: workers))
                Issue.record("the job should fail")
            } catch let error as ClusterError {
                // In-process workers only: the same process would compute the same failure again.
                #expect(error.description.contains("failed once"), "\(error)")
                #expect(error.description.contains("mean direction is zero"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: out))
            #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        }
    }

    @Test("a journal of a different job is refused and the interrupted output is left alone")
    func foreignJournalIsRefused() throws {
        let out = Harness.output("out")
        let plan = try Harness.plan("linear")
        // An interrupted run of another job (another seed) left its journal.
        let other = try MergeJob(plan: plan, directory: out, options: MergeOptions(threads: 1, seed: 1))
        try "crucible-journal 1 \(String(other.digest, radix: 16))\n".write(toFile: other.output.journalPath!, atomically: true, encoding: .utf8)
        var options = runtime(localWorkers: 1)
        options.resume = true
        let job = try MergeJob(plan: plan, directory: out, options: MergeOptions(threads: 1, seed: 2), resume: true)
        #expect(job.digest != other.digest)
        #expect(throws: ClusterError.self) { try JobRuntime.run(job, options: options) }
        #expect(FileManager.default.fileExists(atPath: out + ".partial/.crucible-journal"))
    }
}
