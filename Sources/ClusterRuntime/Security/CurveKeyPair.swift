#if canImport(Glibc)
import Glibc
#endif
import CZMQ
import TensorIO

/// A CURVE key pair (Curve25519) as ZeroMQ uses it: two 40-character Z85 strings.
///
/// On disk (`crucible keygen DIR`, a layout operators rely on): `DIR/key.public` and
/// `DIR/key.secret` (mode 0600), each holding the Z85 text and a newline. A coordinator
/// authorises the workers whose keys are in `DIR/authorized/*.public`; a worker finds the
/// coordinator's key in `DIR/coordinator.public`.
public struct CurveKeyPair: Sendable, Equatable {
    public static let publicFile = "key.public"
    public static let secretFile = "key.secret"

    public let publicKey: String
    public let secretKey: String

    /// A fresh random key pair (libzmq with libsodium).
    public static func generate() throws -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: z85(publicKey), secretKey: z85(secretKey))
    }

    /// The public key that belongs to a Z85 secret key, or nil if the text is not a key.
    public static func publicKey(forSecret secret: String) -> String? {
        guard isZ85Key(secret) else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secret) == 0 else { return nil }
        return z85(publicKey)
    }

    /// The text of a NUL-terminated key buffer.
    private static func z85(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True for a 40-character Z85 string.
    public static func isZ85Key(_ text: String) -> Bool {
        let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
        return text.count == 40 && text.allSatisfy { alphabet.contains($0) }
    }

    /// Writes `key.public` (0644) and `key.secret` (0600) into `directory`, creating it (0700)
    /// and any missing parent; refuses to replace an existing secret key unless `overwrite`.
    public func write(to directory: String, overwrite: Bool = false) throws(KeyFileError) {
        let parent = FileSystem.parent(of: directory)
        do { try FileSystem.makeDirectories(parent) } catch { throw .io(parent, error.description) }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw .io(directory, String(cString: strerror(errno))) }
        let secretPath = directory + "/" + CurveKeyPair.secretFile
        if !overwrite && access(secretPath, F_OK) == 0 { throw .exists(secretPath) }
        try CurveKeyPair.writeFile(secretPath, secretKey + "\n", mode: 0o600)
        try CurveKeyPair.writeFile(directory + "/" + CurveKeyPair.publicFile, publicKey + "\n", mode: 0o644)
    }

    /// Reads the pair back from `directory`, checking that the two keys belong together and,
    /// as ssh does for its private keys, that `key.secret` is not open to other users
    /// (`KeyFileError.tooOpen`).
    public static func read(from directory: String) throws(KeyFileError) -> CurveKeyPair {
        let secret = try readKey(directory + "/" + secretFile, secret: true)
        let publicKey = try readKey(directory + "/" + publicFile)
        guard CurveKeyPair.publicKey(forSecret: secret) == publicKey else { throw .mismatched(directory) }
        return CurveKeyPair(publicKey: publicKey, secretKey: secret)
    }

    /// One Z85 key from a file (surrounding whitespace ignored). Only a regular file of at
    /// most 4 KiB is read (`FileSystem.openRegularFile`: a FIFO is refused, not waited on);
    /// symbolic links are followed (Kubernetes mounts Secrets as links).
    public static func readKey(_ path: String) throws(KeyFileError) -> String {
        try readKey(path, secret: false)
    }

    /// With `secret`, refuses a file that others may read or write: any permission for
    /// others, or for its group when it belongs to the account reading it (ssh's rule; a
    /// secret owned by another account, such as root's 0440 file in a Kubernetes Secret
    /// volume readable by the pod's group, may be group-readable).
    static func readKey(_ path: String, secret: Bool) throws(KeyFileError) -> String {
        let bytes: [UInt8]
        do {
            let (fd, info) = try FileSystem.openRegularFile(path)
            defer { close(fd) }
            if secret {
                let mode = info.st_mode & 0o777
                if mode & 0o007 != 0 || (info.st_uid == getuid() && mode & 0o070 != 0) { throw KeyFileError.tooOpen(path, mode: mode) }
            }
            bytes = try FileSystem.read(fd, path: path, size: Int(info.st_size), limit: 4096, what: "a key file")
        } catch let error as SafeTensorsError {
            throw .io(path, error.problem.message)
        } catch let error as KeyFileError {
            throw error
        } catch {
            throw .io(path, "\(error)")
        }
        let key = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        guard isZ85Key(key) else { throw .malformed(path) }
        return key
    }

    private static func writeFile(_ path: String, _ text: String, mode: mode_t) throws(KeyFileError) {
        let temporary = path + ".partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .io(temporary, String(cString: strerror(errno))) }
        fchmod(fd, mode)
        let bytes = Array(text.utf8)
        let written = Glibc.write(fd, bytes, bytes.count)
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw .io(path, String(cString: strerror(errno)))
        }
    }
}

/// A key file that cannot be used.
public enum KeyFileError: Error, Equatable, CustomStringConvertible {
    case exists(String)
    case io(String, String)
    case malformed(String)
    case mismatched(String)
    /// A secret key others may read (its permission bits).
    case tooOpen(String, mode: mode_t)
    /// An `authorized/` folder or key that others may change (its permission bits).
    case writableByOthers(String, mode: mode_t)

    public var description: String {
        switch self {
        case .exists(let path): return "\(path) already exists; pass --force to replace it"
        case .io(let path, let why): return "\(path): \(why)"
        case .malformed(let path): return "\(path) does not hold a 40-character Z85 CURVE key"
        case .mismatched(let dir): return "\(dir): key.public does not belong to key.secret"
        case .tooOpen(let path, let mode):
            return "\(path): permissions \(octal(mode)) are too open: a secret key must be readable by its owner only; run: chmod 600 \(path)"
        case .writableByOthers(let path, let mode):
            return "\(path): permissions \(octal(mode)) let other users change which workers are authorised; run: chmod go-w \(path)"
        }
    }

    private func octal(_ mode: mode_t) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
