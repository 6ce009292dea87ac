import Foundation
import Testing
import TestSupport

/// A `model+adapter` merge over remote workers: the adapter's tensors are inputs like any
/// other (read by a worker that has the files, shipped to one that has not), and W + s·B·A is
/// formed the same way on every worker.
@Suite struct LoRAClusterTests {
    /// Merges `config` embedded and over 2 tcp workers, one reading the inputs and one with
    /// them shipped: the two output folders and the coordinator's run.
    static func mergedOverTwoWorkers(_ config: String, root: String) throws -> (embedded: String, clustered: String, coordinator: LaunchedProcess) {
        let embedded = root + "/embedded", clustered = root + "/cluster"
        let reference = try Harness.crucible(["merge", config, embedded, "-q"], in: Fixtures.repository)
        #expect(reference.status == 0, "\(reference.output)")
        let endpoint = "tcp://127.0.0.1:\(try Harness.freePort())"
        let coordinator = try Harness.launch(["merge", config, clustered, "--listen", endpoint, "--local-workers", "0", "--min-workers", "2"],
                                             in: Fixtures.repository)
        let reading = try Harness.launch(["worker", "--connect", endpoint, "-j", "1"], in: Fixtures.repository)
        let shipped = try Harness.launch(["worker", "--connect", endpoint, "-j", "1", "--no-shared-storage"], in: Fixtures.repository)
        #expect(coordinator.wait() == 0, "\(coordinator.output)")
        #expect(reading.wait(10) == 0 && shipped.wait(10) == 0)
        return (embedded, clustered, coordinator)
    }

    @Test("a LoRA input merged over 2 tcp workers (one with inputs shipped) is byte-identical to the embedded merge")
    func overWorkers() throws {
        let root = Harness.output("lora")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let adapter = try LoRAFixture.write(root, "adapter", seed: 7)
        // The adapted model merged with another one, so that the update meets a real merge.
        let config = root + "/lora.yml"
        try """
            models:
              - model: examples/models/base+\(adapter)
                parameters: {weight: 0.6}
              - model: examples/models/ft1
                parameters: {weight: 0.4}
            merge_method: linear
            dtype: bfloat16
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let (embedded, clustered, coordinator) = try Self.mergedOverTwoWorkers(config, root: root)
        let a = try Data(contentsOf: URL(fileURLWithPath: embedded + "/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: clustered + "/model.safetensors"))
        #expect(a == b, "the cluster's output differs from the embedded merge's")
        #expect(coordinator.output.contains("gets inputs shipped"), "\(coordinator.output)")
        // Every tensor on the worker without the files: each update formed from shipped adapter tensors.
        let onlyShipped = root + "/shipped"
        let endpoint2 = "tcp://127.0.0.1:\(try Harness.freePort())"
        let second = try Harness.launch(["merge", config, onlyShipped, "--listen", endpoint2, "--local-workers", "0"], in: Fixtures.repository)
        let alone = try Harness.launch(["worker", "--connect", endpoint2, "-j", "2", "--no-shared-storage"], in: Fixtures.repository)
        #expect(second.wait() == 0 && alone.wait(10) == 0, "\(second.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: onlyShipped + "/model.safetensors")) == a)
        let base = try Data(contentsOf: URL(fileURLWithPath: Fixtures.repository + "/examples/models/base/model.safetensors"))
        #expect(a != base)
    }

    @Test("the adapted model alone, merged over 2 tcp workers (one with inputs shipped), is bit for bit the embedded merge and numpy's W + s·B·A")
    func overWorkersAgainstNumpy() throws {
        guard Python.hasNumpy else { return }
        let root = Harness.output("lora-numpy")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let adapter = try LoRAFixture.write(root, "adapter", seed: 11, rsLoRA: true)
        let config = root + "/lora.yml"
        try LoRAFixture.config(adapter: adapter).write(toFile: config, atomically: true, encoding: .utf8)
        let (embedded, clustered, coordinator) = try Self.mergedOverTwoWorkers(config, root: root)
        #expect(try Data(contentsOf: URL(fileURLWithPath: clustered + "/model.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: embedded + "/model.safetensors")), "the cluster's output differs from the embedded merge's")
        let check = try LoRAFixture.againstNumpy(merged: clustered, adapter: adapter)
        #expect(check.updated > 3000, "only \(check.updated) elements differ from the base")
        #expect(check.differing == 0, "\(check.differing) elements differ from numpy, by up to \(check.worst) (relative)")
    }
}
