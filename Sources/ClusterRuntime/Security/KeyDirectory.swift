import Foundation

/// The keys in a `--keys DIR` folder (a stable layout, docs/operations.md):
/// `key.public`/`key.secret` (this host's pair), `authorized/*.public` (on a coordinator:
/// the workers it accepts), `coordinator.public` (on a worker: whom it talks to).
public struct KeyDirectory: Sendable {
    public let path: String
    public let pair: CurveKeyPair

    public init(_ path: String) throws {
        self.path = path
        pair = try CurveKeyPair.read(from: path)
    }

    /// The worker keys a coordinator accepts, by file name; an empty folder is an error
    /// (nobody could connect).
    public func authorizedKeys() throws -> [String: String] {
        let folder = path + "/authorized"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var keys: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".public") {
            keys[try CurveKeyPair.readKey(folder + "/" + name)] = String(name.dropLast(".public".count))
        }
        guard !keys.isEmpty else {
            throw KeyFileError.io(folder, "no worker keys (*.public) to authorise; copy each worker's key.public there as NAME.public")
        }
        return keys
    }

    /// The coordinator's public key, for a worker.
    public func coordinatorKey() throws -> String {
        try CurveKeyPair.readKey(path + "/coordinator.public")
    }
}
