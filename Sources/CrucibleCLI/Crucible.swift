import ArgumentParser
import CLZ4
import CZMQ

@main
struct Crucible: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "crucible",
        abstract: "Merge and stress-test large language model checkpoints, on one machine or a cluster.",
        discussion: """
            Crucible reads mergekit YAML configs and Hugging Face safetensors checkpoints.
            Start with `crucible merge CONFIG OUT_DIR`, `crucible methods`, or `crucible inspect MODEL`.

            A MODEL (argument or config entry) may also be a Hugging Face Hub `org/name[@revision]`,
            found in and downloaded to the huggingface_hub cache (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT,
            HF_TOKEN; HF_HUB_OFFLINE=1 never connects).
            """,
        version: Crucible.versionString,
        subcommands: [Merge.self, Prune.self, Sweep.self, Analyze.self, Eval.self, WorkerCommand.self, Methods.self, Inspect.self, Keygen.self]
    )

    /// `crucible 0.1.0 (libzmq 4.3.4, liblz4 1.9.4)`: the libraries actually linked.
    static var versionString: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        let lz4 = LZ4_versionNumber()
        return "crucible \(version) (libzmq \(major).\(minor).\(patch), liblz4 \(lz4 / 10000).\(lz4 / 100 % 100).\(lz4 % 100))"
    }
}
