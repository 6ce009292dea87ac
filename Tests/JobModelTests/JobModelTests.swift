import Foundation
import JobModel
import Testing
import TensorIO
import TestSupport

/// A toy job: each task fills its tensor with its index and writes a record of its size.
final class FillJob: DistributedJob {
    let jobKind: any JobKind.Type = FillRunner.self
    let setup: [UInt8] = []
    let models: [Checkpoint] = []
    let tasks: [JobTask]
    let output: JobOutput
    let writer: CheckpointWriter
    let records = RecordStore()

    init(directory: String, sizes: [Int], reuse: Bool = false) throws {
        writer = try CheckpointWriter(directory: directory, tensors: sizes.enumerated().map {
            SafeTensorsLayout.Spec(name: "t\($0.offset)", dtype: .u8, shape: [$0.element])
        }, reuse: reuse)
        tasks = sizes.enumerated().map { index, size in
            JobTask(label: "t\(index)", work: Array("\(index)".utf8), inputs: [],
                    parts: [TaskPart(target: 0, name: "t\(index)", bytes: size, elementWidth: 1),
                            TaskPart(target: 1, name: "r\(index)", bytes: 8, elementWidth: 8)])
        }
        output = JobOutput(targets: [.checkpoint(writer), .records(records)], journalPath: writer.temporaryDirectory + "/journal")
    }

    func finish() throws { try writer.finish() }
    func abandon() { writer.abandon() }
}

struct FillRunner: TaskRunner, JobKind {
    static let name = "fill"
    static func runner(setup: [UInt8]) throws -> any TaskRunner { FillRunner() }

    func run(_ work: [UInt8], inputs: any TaskInputs, threads: Int, into sink: TaskSink) throws {
        let value = UInt8(String(decoding: work, as: UTF8.self))!
        let parts = sink.parts
        // Two halves, as a multi-threaded runner would write them.
        let half = parts[0].bytes / 2
        try sink.fill(0, half..<parts[0].bytes) { $0.initializeMemory(as: UInt8.self, repeating: value) }
        try sink.fill(0, 0..<half) { $0.initializeMemory(as: UInt8.self, repeating: value) }
        try sink.fill(1, 0..<8) { $0.storeBytes(of: UInt64(parts[0].bytes).littleEndian, as: UInt64.self) }
    }
}

@Suite struct JobModelTests {
    func folder() -> String {
        TemporaryFolder.path("out", label: "job")
    }

    @Test("the local runner writes every part of every task and the output appears complete")
    func localRunner() throws {
        let out = folder()
        let job = try FillJob(directory: out, sizes: [5, 0, 9])
        try LocalJobRunner.run(job, runner: FillRunner(), threads: 1)
        let file = try SafeTensorsFile(path: out + "/model.safetensors")
        #expect(Array(try file.tensor("t2").bytes) == [UInt8](repeating: 2, count: 9))
        #expect(Array(try file.tensor("t0").bytes) == [UInt8](repeating: 0, count: 5))
        #expect(job.records.record("r2") == [9, 0, 0, 0, 0, 0, 0, 0])
        #expect(job.outputBytes == 14 + 24)
    }

    @Test("a part written out of its bounds, or to a missing target, is refused")
    func boundsAreChecked() throws {
        let job = try FillJob(directory: folder(), sizes: [4])
        defer { job.abandon() }
        let part = job.tasks[0].parts[0]
        #expect(throws: JobError.self) { try TaskSink(inPlace: [part], of: job.output).fill(0, 2..<5) { _ in } }
        #expect(throws: JobError.self) { try TaskSink(inPlace: [TaskPart(target: 7, name: "t0", bytes: 4, elementWidth: 1)], of: job.output).fill(0, 0..<1) { _ in } }
        #expect(job.output.isPersistent(part) && !job.output.isPersistent(job.tasks[0].parts[1]))
    }

    @Test("the job digest changes with any task; digests of parts see the written bytes; reuse keeps an interrupted shard")
    func digestsAndReuse() throws {
        let out = folder()
        let job = try FillJob(directory: out, sizes: [6, 6])
        #expect(try FillJob(directory: folder(), sizes: [6, 7]).digest != job.digest)
        let part = job.tasks[1].parts[0]
        let before = try job.output.digest(part, chunks: ChunkLayout(size: 4))
        try LocalJobRunner.run(job.tasks[1], of: job, runner: FillRunner(), inputs: CheckpointInputs([]), threads: 1)
        let after = try job.output.digest(part, chunks: ChunkLayout(size: 4))
        #expect(before != after)
        // The digest is that of the chunks' checksums, as remote workers send them.
        let chunks = [[UInt8](repeating: 1, count: 4), [UInt8](repeating: 1, count: 2)].map { $0.withUnsafeBytes { XXHash64.hash($0) } }
        #expect(after == JobOutput.combining(chunks))
        job.output.sync()
        // A new writer over the same .partial folder keeps the bytes; nothing counts as written
        // until marked, and then the output can finish with only the other task computed.
        let resumed = try FillJob(directory: out, sizes: [6, 6], reuse: true)
        #expect(try resumed.output.digest(part, chunks: ChunkLayout(size: 4)) == after)
        try resumed.output.markWritten(part)
        try LocalJobRunner.run(resumed.tasks[0], of: resumed, runner: FillRunner(), inputs: CheckpointInputs([]), threads: 1)
        try resumed.finish()
        let file = try SafeTensorsFile(path: out + "/model.safetensors")
        #expect(Array(try file.tensor("t1").bytes) == [UInt8](repeating: 1, count: 6))
    }
}
