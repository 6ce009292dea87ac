import Foundation
import Testing
import TestSupport

/// Multi-host on one machine: the coordinator and two workers in their own network
/// namespaces (`NetworkHosts`), each with its own address. One worker also lives in a
/// mount namespace where the model files are hidden, so its inputs travel over the wire.
@Suite(.serialized) struct NetworkNamespaceTests {
    @Test("coordinator and two workers on three network hosts, one without the model files: byte-identical",
          .disabled(if: NetworkHosts.unavailable != nil, Comment(rawValue: NetworkHosts.unavailable ?? "")))
    func threeHosts() throws {
        let tag = "cr\(getpid() % 10000)"
        if let reason = NetworkHosts.make(tag) {
            Issue.record("the probe made namespaces, these failed: \(reason)")
            return
        }
        defer { NetworkHosts.remove(tag) }
        let config = try Harness.config("ties")
        let embedded = Harness.output("embedded"), out = Harness.output("multihost")
        #expect(try Harness.crucible(["merge", config, embedded, "-q"]).status == 0)
        let bin = CrucibleBinary.path
        let coordinator = try Harness.launch(["netns", "exec", "\(tag)c", bin, "merge", config, out, "--listen", "tcp://0.0.0.0:5555",
                                              "--insecure", "--local-workers", "0", "--min-workers", "2"], executable: "/usr/sbin/ip")
        let reading = try Harness.launch(["netns", "exec", "\(tag)a", bin, "worker", "--connect", "tcp://10.201.1.1:5555", "-j", "1"],
                                         executable: "/usr/sbin/ip")
        // Host b sees an empty folder where the models are: it must be sent its inputs.
        let hidden = "unshare --mount --propagation private sh -c 'mount -t tmpfs none \(Fixtures.golden) && exec \(bin) worker --connect tcp://10.201.2.1:5555 -j 1'"
        let blind = try Harness.launch(["netns", "exec", "\(tag)b", "sh", "-c", hidden], executable: "/usr/sbin/ip")
        #expect(coordinator.wait() == 0, "\(coordinator.output)\n\(blind.output)")
        #expect(reading.wait(10) == 0 && blind.wait(10) == 0, "\(reading.output)\n\(blind.output)")
        let log = coordinator.output
        #expect(log.contains("gets inputs shipped (cannot open"), "\(log)")
        #expect(log.contains("reads the inputs itself"), "\(log)")
        #expect(try Harness.tensors(out) == Harness.tensors(embedded))
    }
}
