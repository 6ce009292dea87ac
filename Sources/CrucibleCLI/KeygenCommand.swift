import ArgumentParser
import ClusterRuntime

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a CURVE key pair for encrypted, authenticated cluster traffic.",
        discussion: """
            Writes DIR/key.public and DIR/key.secret (mode 0600), Z85 text. Copy public keys, never
            secret ones: a worker's key.public goes to the coordinator as DIR/authorized/NAME.public;
            the coordinator's key.public goes to each worker as DIR/coordinator.public.
            As ssh does, --keys refuses a key.secret that others may read (keep it 0600) and an
            authorized/ folder or key that group or others may write (docs/operations.md, Keys).
            """
    )

    @Argument(help: "Folder for the key files (created if missing).")
    var directory: String

    @Flag(help: "Replace an existing key pair.")
    var force = false

    func run() throws {
        let pair = try CLIError.wrap { try CurveKeyPair.generate() }
        do {
            try pair.write(to: directory, overwrite: force)
        } catch {
            throw CLIError(error.description)
        }
        print("wrote \(directory)/\(CurveKeyPair.publicFile) and \(directory)/\(CurveKeyPair.secretFile)")
        print("public key: \(pair.publicKey)")
    }
}
