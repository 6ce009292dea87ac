#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGINT and SIGTERM as a request to stop: the coordinator finishes its journal, flushes
/// the output and leaves a job that `--resume` continues. A second signal kills at once.
public enum StopSignal {
    static let requested = Atomic<Int32>(0)

    /// Installs the handlers (idempotent).
    public static func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number) { number in
                if StopSignal.requested.exchange(number, ordering: .relaxed) != 0 {
                    signal(number, SIG_DFL)
                    raise(number)
                }
            }
        }
    }

    /// The signal received, if any.
    public static var received: Int32? {
        let number = requested.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }
}
