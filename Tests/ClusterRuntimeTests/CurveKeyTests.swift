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
