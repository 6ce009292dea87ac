import ClusterRuntime
import CZMQ
import Foundation
import Testing
import TestSupport

/// CURVE keys: generation, the on-disk layout, and real encrypted ZeroMQ traffic with them.
@Suite struct CurveKeyTests {
    @Test("a generated pair is two Z85 keys that belong together")
    func generatedPairIsConsistent() throws {
        let pair = try CurveKeyPair.generate()
        #expect(CurveKeyPair.isZ85Key(pair.publicKey) && CurveKeyPair.isZ85Key(pair.secretKey))
        #expect(CurveKeyPair.publicKey(forSecret: pair.secretKey) == pair.publicKey)
        #expect(try CurveKeyPair.generate() != pair)
    }

    @Test("keys are written as key.public and key.secret (0600), read back, and not overwritten")
    func keyFiles() throws {
        let dir = TemporaryFolder.path("keys", label: "keys")
        let pair = try CurveKeyPair.generate()
        try pair.write(to: dir)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/key.secret")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: dir + "/key.public", encoding: .utf8) == pair.publicKey + "\n")
        #expect(try CurveKeyPair.read(from: dir) == pair)
        #expect(throws: KeyFileError.exists(dir + "/key.secret")) { try CurveKeyPair.generate().write(to: dir) }
        try "not a key\n".write(toFile: dir + "/key.public", atomically: true, encoding: .utf8)
        #expect(throws: KeyFileError.malformed(dir + "/key.public")) { try CurveKeyPair.read(from: dir) }
    }

    @Test("a key.secret that others (or, when it is ours, our group) may read is refused, naming the chmod to run")
    func secretKeyPermissions() throws {
        let dir = TemporaryFolder.path("keys", label: "keys")
        let pair = try CurveKeyPair.generate()
        try pair.write(to: dir)
        let secret = dir + "/key.secret"
        for mode: mode_t in [0o644, 0o640, 0o604, 0o660] {
            chmod(secret, mode)
            #expect(throws: KeyFileError.tooOpen(secret, mode: mode)) { try CurveKeyPair.read(from: dir) }
        }
        chmod(secret, 0o644)
        let error = #expect(throws: KeyFileError.self) { try KeyDirectory(dir) }
        #expect(error?.description == "\(secret): permissions 0644 are too open: a secret key must be readable by its owner only; run: chmod 600 \(secret)")
        for mode: mode_t in [0o600, 0o400] {
            chmod(secret, mode)
            #expect(try CurveKeyPair.read(from: dir) == pair)
        }
    }

    @Test("an authorized/ folder or key that group or others may write is refused")
    func authorizedFolderPermissions() throws {
        let dir = TemporaryFolder.path("keys", label: "keys")
        try CurveKeyPair.generate().write(to: dir)
        let folder = dir + "/authorized"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        try (try CurveKeyPair.generate().publicKey + "\n").write(toFile: folder + "/w1.public", atomically: true, encoding: .utf8)
        let keys = try KeyDirectory(dir)
        for mode: mode_t in [0o777, 0o775, 0o757] {
            chmod(folder, mode)
            #expect(throws: KeyFileError.writableByOthers(folder, mode: mode)) { try keys.authorizedKeys() }
        }
        chmod(folder, 0o755)
        chmod(folder + "/w1.public", 0o666)
        #expect(throws: KeyFileError.writableByOthers(folder + "/w1.public", mode: 0o666)) { try keys.authorizedKeys() }
        chmod(folder + "/w1.public", 0o644)
        #expect(try keys.authorizedKeys().values.sorted() == ["w1"])
    }

    @Test("a FIFO as key.secret, coordinator.public or authorized/*.public is refused, not waited on")
    func keyFilesThatAreFIFOs() throws {
        let dir = TemporaryFolder.path("keys", label: "keys")
        try CurveKeyPair.generate().write(to: dir)
        try FileManager.default.createDirectory(atPath: dir + "/authorized", withIntermediateDirectories: false)
        for name in ["authorized/w1.public", "coordinator.public", "key.secret"] {
            let path = dir + "/" + name
            unlink(path)
            try #require(mkfifo(path, 0o600) == 0)
            let outcome = finishes(within: 10, onTimeout: { unblockFIFO(path) }) { () -> String in
                do {
                    switch name {
                    case "key.secret": _ = try KeyDirectory(dir)
                    case "coordinator.public": _ = try KeyDirectory(dir).coordinatorKey()
                    default: _ = try KeyDirectory(dir).authorizedKeys()
                    }
                    return ""
                } catch { return "\(error)" }
            }
            guard case .success(let message)? = outcome else { Issue.record("\(name): still blocked after 10 s"); continue }
            #expect(message == "\(path): cannot open: it is a FIFO (named pipe), not a regular file", "\(name)")
        }
    }

    /// A CURVE server and a client that knows (or does not know) the server's public key.
    func handshake(clientKnowsServer: Bool) throws -> Bool {
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        let context = try ZMQContext()
        let router = try ZMQSocket(context, .router)
        try router.set(ZMQ_CURVE_SERVER, Int32(1))
        try router.set(ZMQ_CURVE_SECRETKEY, bytes: Array(server.secretKey.utf8))
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, .dealer)
        let serverKey = clientKnowsServer ? server.publicKey : try CurveKeyPair.generate().publicKey
        try dealer.set(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8))
        try dealer.set(ZMQ_CURVE_PUBLICKEY, bytes: Array(client.publicKey.utf8))
        try dealer.set(ZMQ_CURVE_SECRETKEY, bytes: Array(client.secretKey.utf8))
        try dealer.connect(try router.lastEndpoint())
        try dealer.send([Array("HELLO".utf8)])
        guard try router.poll(milliseconds: clientKnowsServer ? 5000 : 500) else { return false }
        return try router.receiveMultipart().last == Array("HELLO".utf8)
    }

    @Test func encryptedTrafficFlowsWithTheRightServerKey() throws { #expect(try handshake(clientKnowsServer: true)) }

    @Test func aClientWithTheWrongServerKeyGetsNothingThrough() throws { #expect(try !handshake(clientKnowsServer: false)) }
}
