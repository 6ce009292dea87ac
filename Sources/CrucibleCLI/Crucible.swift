import ArgumentParser
import ClusterRuntime
import WireCodec

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
        subcommands: [Merge.self, Prune.self, Sweep.self, Analyze.self, Eval.self, Score.self, WorkerCommand.self, Methods.self, Inspect.self, Keygen.self]
    )

    /// `crucible 0.1.0 (libzmq 4.3.4, liblz4 1.9.4)`: the libraries actually linked.
    static var versionString: String {
        let zmq = ZMQContext.version
        return "crucible \(version) (libzmq \(zmq.major).\(zmq.minor).\(zmq.patch), liblz4 \(ChunkCodec.lz4Version))"
    }
}
