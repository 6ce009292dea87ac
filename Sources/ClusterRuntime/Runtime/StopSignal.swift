#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGINT and SIGTERM as a request to stop: the coordinator finishes its journal, flushes
/// the output and leaves a job that `--resume` continues. A second signal kills at once.
public enum StopSignal {
    static let requested = Atomic<Int32>(0)

    /// Installs the handlers (idempotent) and unblocks the signals, which a parent process
    /// may have left blocked in the mask this process inherited.
    public static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
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
