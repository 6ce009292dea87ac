import Foundation

/// Three network hosts on this machine for multi-host tests: namespaces `<tag>c`, `<tag>a`
/// and `<tag>b` joined by veth pairs. c has 10.201.1.1 (and 10.201.1.3, a second host name
/// for it) towards a (10.201.1.2), and 10.201.2.1 towards b (10.201.2.2); a and b route
/// everything else through c, so both reach every address of c.
public enum NetworkHosts {
    /// Makes the hosts of `tag`; nil, or the reason they cannot be made (then none is left).
    public static func make(_ tag: String) -> String? {
        let script = """
            set -e
            ip netns add \(tag)c; ip netns add \(tag)a; ip netns add \(tag)b
            for ns in c a b; do ip -n \(tag)$ns link set lo up; done
            ip link add \(tag)ca type veth peer name \(tag)ac
            ip link set \(tag)ca netns \(tag)c; ip link set \(tag)ac netns \(tag)a
            ip link add \(tag)cb type veth peer name \(tag)bc
            ip link set \(tag)cb netns \(tag)c; ip link set \(tag)bc netns \(tag)b
            ip -n \(tag)c addr add 10.201.1.1/24 dev \(tag)ca; ip -n \(tag)c addr add 10.201.1.3/24 dev \(tag)ca
            ip -n \(tag)c link set \(tag)ca up
            ip -n \(tag)a addr add 10.201.1.2/24 dev \(tag)ac; ip -n \(tag)a link set \(tag)ac up
            ip -n \(tag)c addr add 10.201.2.1/24 dev \(tag)cb; ip -n \(tag)c link set \(tag)cb up
            ip -n \(tag)b addr add 10.201.2.2/24 dev \(tag)bc; ip -n \(tag)b link set \(tag)bc up
            ip -n \(tag)a route add default via 10.201.1.1; ip -n \(tag)b route add default via 10.201.2.1
            """
        let result = try? ProcessRunner.shell(script)
        if result?.status != 0 {
            remove(tag)
            let output = result?.output ?? "cannot run /bin/sh"
            return "network namespaces cannot be created here (\(output.split(separator: "\n").last ?? "")): needs root and iproute2"
        }
        return nil
    }

    public static func remove(_ tag: String) {
        _ = try? ProcessRunner.shell("for ns in c a b; do ip netns del \(tag)$ns 2>/dev/null; done; true")
    }

    /// Why hosts cannot be made on this machine (nil: they can), found once with a probe set.
    public static let unavailable: String? = {
        let tag = "cp\(getpid() % 10000)"
        defer { remove(tag) }
        return make(tag)
    }()

    /// `ip netns exec <namespace>`: the prefix that runs a command on that host.
    public static func on(_ namespace: String) -> [String] { ["/usr/sbin/ip", "netns", "exec", namespace] }
}
