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
    /// (nobody could connect). Like ssh with `authorized_keys`, the folder and its keys must
    /// not be writable by group or others (whoever can write there can let a worker in),
    /// unless they are on a read-only file system (a Kubernetes Secret volume).
    public func authorizedKeys() throws -> [String: String] {
        let folder = path + "/authorized"
        try KeyDirectory.refuseWritableByOthers(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var keys: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".public") {
            try KeyDirectory.refuseWritableByOthers(folder + "/" + name)
            keys[try CurveKeyPair.readKey(folder + "/" + name)] = String(name.dropLast(".public".count))
        }
        guard !keys.isEmpty else {
            throw KeyFileError.io(folder, "no worker keys (*.public) to authorise; copy each worker's key.public there as NAME.public")
        }
        return keys
    }

    /// Throws `.writableByOthers` when `path` (followed through links) exists, is writable
    /// by its group or others, and is not on a read-only file system.
    static func refuseWritableByOthers(_ path: String) throws(KeyFileError) {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o022 != 0 else { return }
        var fileSystem = statvfs()
        if statvfs(path, &fileSystem) == 0 && fileSystem.f_flag & UInt(ST_RDONLY) != 0 { return }
        throw .writableByOthers(path, mode: info.st_mode & 0o7777)
    }

    /// The coordinator's public key, for a worker.
    public func coordinatorKey() throws -> String {
        try CurveKeyPair.readKey(path + "/coordinator.public")
    }
}
