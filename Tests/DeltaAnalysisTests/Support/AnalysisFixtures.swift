import DeltaAnalysis
import Foundation
import JobModel
import TensorIO
import Testing

/// Models to analyse (the golden fixtures, the bundled examples, small ones written here),
/// running an analysis in-process, and the independent python + numpy reference.
enum AnalysisFixtures {
    /// The repository's root folder.
    static let repository: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// `../shared/fixtures/mergekit-golden/models`: F32 base, ft0/ft1 (dense N(0, 0.01²)
    /// deltas), ft2 (sparse large deltas).
    static let golden: String = URL(fileURLWithPath: repository).deletingLastPathComponent()
        .appendingPathComponent("shared/fixtures/mergekit-golden/models").path

    /// `examples/models`: BF16 base and ft1..ft3.
    static let examples = repository + "/examples/models"

    static let referenceScript = repository + "/Tests/DeltaAnalysisTests/Support/analyze_reference.py"

    /// Plans and runs an analysis in this process; returns the job (with its records) and the report.
    static func analyze(base: String, models: [String], threshold: Double = 0.005, threads: Int = 2) throws -> (AnalyzeJob, DeltaReport) {
        let job = try AnalyzeJob(basePath: base, modelPaths: models, threshold: threshold)
        try LocalJobRunner.run(job, runner: AnalyzeTaskRunner(job), threads: threads)
        return (job, try DeltaReport(job))
    }

    /// A fresh temporary folder.
    static func directory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crucible-analyze-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes a checkpoint folder `root/name` holding `tensors` (name, shape, values).
    @discardableResult
    static func write(_ root: String, _ name: String, _ tensors: [(String, [Int], [Float])], dtype: DType = .f32) throws -> String {
        let specs = tensors.map { SafeTensorsLayout.Spec(name: $0.0, dtype: dtype, shape: $0.1) }
        let writer = try CheckpointWriter(directory: root + "/" + name, tensors: specs)
        for (tensorName, shape, values) in tensors {
            precondition(values.count == shape.reduce(1, *), "\(tensorName): \(values.count) values for shape \(shape)")
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, values.count * dtype.bitWidth / 8), alignment: 16)
            defer { bytes.deallocate() }
            values.withUnsafeBufferPointer { Conversion.fromFloat32($0, to: dtype, into: bytes) }
            try writer.write(tensorName, bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<(values.count * dtype.bitWidth / 8)]))
        }
        try writer.finish()
        return root + "/" + name
    }

    /// Deterministic pseudo-random values in [-scale, scale) (a 64-bit LCG; no dependency on
    /// the code under test).
    static func values(_ count: Int, scale: Float, seed: UInt64) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    /// Whether python3 with numpy is on PATH (the reference needs both).
    static let pythonWithNumpy: Bool = (try? python(["-c", "import numpy"]).status) == 0

    /// Runs the reference script; returns its JSON, parsed with TensorIO's parser (numbers
    /// keep their exact text, so Float64 values compare bit for bit).
    static func reference(threshold: Double, base: String, models: [String]) throws -> JSONValue {
        let result = try python([referenceScript, "\(threshold)", base] + models)
        try #require(result.status == 0, "analyze_reference.py failed: \(result.stderr)")
        return try JSONParser.parse(result.stdout)
    }

    static func python(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}
