#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file-system operations TensorIO needs, as thin wrappers over POSIX so that
/// every failure carries the path and the system's reason.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Names in a directory, sorted, without "." and "..".
    public static func contents(of directory: String) throws(SafeTensorsError) -> [String] {
        guard let dir = opendir(directory) else { throw error(directory, "cannot list directory") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// What a file of mode `mode` is, in words ("a FIFO (named pipe)", "a directory", ...).
    public static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "not a regular file"
        }
    }

    /// Opens `path` read-only when it is a regular file; anything else (a FIFO, a device, a
    /// socket, a directory) is refused with an error that says what it is, without ever
    /// blocking: this is how every input file (weights, config.json, an index, a tokenizer
    /// file, a YAML config, a key) is opened. With `followLinks` false a symbolic link is
    /// refused too. The caller closes the descriptor.
    public static func openRegularFile(_ path: String, followLinks: Bool = true) throws(SafeTensorsError) -> (descriptor: Int32, info: stat) {
        // Look before opening: opening a device or a FIFO can block or have side effects.
        var before = stat()
        guard (followLinks ? stat(path, &before) : lstat(path, &before)) == 0 else {
            throw SafeTensorsError(file: path, .cannotOpen(String(cString: strerror(errno))))
        }
        guard (before.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path, before.st_mode) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (followLinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            if errno == ELOOP && !followLinks { throw notRegular(path, S_IFLNK) }
            throw SafeTensorsError(file: path, .cannotOpen(String(cString: strerror(errno))))
        }
        // What was opened is what is checked (the path may have been replaced meanwhile).
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw SafeTensorsError(file: path, .cannotOpen(why))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw notRegular(path, info.st_mode)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, info)
    }

    static func notRegular(_ path: String, _ mode: mode_t) -> SafeTensorsError {
        SafeTensorsError(file: path, .cannotOpen("it is \(kind(mode)), not a regular file"))
    }

    /// The whole of a regular file (see `openRegularFile`), refused when it is larger than
    /// `limit` bytes; `what` names the file in that error ("a config").
    public static func readFile(_ path: String, limit: Int = Int.max, what: String = "the file") throws(SafeTensorsError) -> [UInt8] {
        let (fd, info) = try openRegularFile(path)
        defer { close(fd) }
        return try read(fd, path: path, size: Int(info.st_size), limit: limit, what: what)
    }

    /// A regular file's text (`readFile`), refused when it is larger than `limit` bytes or not UTF-8.
    public static func readText(_ path: String, limit: Int, what: String) throws(SafeTensorsError) -> String {
        let bytes = try readFile(path, limit: limit, what: what)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SafeTensorsError(file: path, .ioFailure("\(what) must be UTF-8 text"))
        }
        return text
    }

    /// The bytes of an open file (`size` from its `fstat`), at most `limit` of them.
    public static func read(_ fd: Int32, path: String, size: Int, limit: Int = Int.max, what: String = "the file") throws(SafeTensorsError) -> [UInt8] {
        func tooLarge() -> SafeTensorsError {
            let limitText = limit % (1 << 20) == 0 ? "\(limit >> 20) MiB" : "\(limit) bytes"
            return SafeTensorsError(file: path, .ioFailure("larger than \(limitText), the limit for \(what)"))
        }
        guard size <= limit else { throw tooLarge() }
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var done = 0
        while true {
            if done == bytes.count {
                guard done <= limit else { throw tooLarge() }
                bytes.append(contentsOf: repeatElement(0, count: max(4096, done)))
            }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw error(path, "read failed")
            }
            if n == 0 { break }
            done += n
        }
        guard done <= limit else { throw tooLarge() }
        return Array(bytes[..<done])
    }

    /// Opens `path` like `openRegularFile`, following symbolic links (in the file's name or
    /// any folder above it) only to a file inside one of `roots`: a link that leaves them,
    /// such as `tokenizer.json -> /etc/shadow` in a model folder, is refused with an error that
    /// names its target. Errors name `path`.
    public static func openRegularFile(_ path: String, linksWithin roots: [String]) throws(SafeTensorsError) -> (descriptor: Int32, info: stat) {
        guard let target = realPath(path) else { throw SafeTensorsError(file: path, .cannotOpen(String(cString: strerror(errno)))) }
        let canonicalRoots = roots.compactMap(realPath)
        guard canonicalRoots.contains(where: { target == $0 || target.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else {
            let inside = canonicalRoots.isEmpty ? "" : " (\(canonicalRoots.joined(separator: " or ")))"
            throw SafeTensorsError(file: path, .cannotOpen("it leads to \(target), outside the model folder\(inside); "
                + "only symbolic links that stay inside it are followed: copy the file itself into the folder"))
        }
        do {
            return try openRegularFile(target, followLinks: false)
        } catch {
            throw SafeTensorsError(file: path, error.problem)
        }
    }

    /// `path` with every symbolic link, `.` and `..` resolved (`realpath`), or nil (errno set).
    public static func realPath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Writes `bytes` to `path` (created with `mode`, less the umask) and fsyncs it.
    public static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SafeTensorsError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw error(path, "cannot create") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw error(path, "write failed")
            }
            done += n
        }
        guard fsync(fd) == 0 else { throw error(path, "fsync failed") }
    }

    /// Copies the regular file `source` to a new file `destination`, whose permission bits are
    /// at most the source's (without execute): a private file stays private. `source` may be
    /// a symbolic link only to a file inside `roots` (`openRegularFile(_:linksWithin:)`);
    /// by default its own folder.
    public static func copyFile(from source: String, to destination: String, linksWithin roots: [String]? = nil) throws(SafeTensorsError) {
        let (fd, info) = try openRegularFile(source, linksWithin: roots ?? [parent(of: source)])
        let bytes: [UInt8]
        do {
            defer { close(fd) }
            bytes = try read(fd, path: source, size: Int(info.st_size))
        }
        // A fresh file, so that `mode` applies (and a link planted at the destination is replaced, not followed).
        unlink(destination)
        try writeFile(destination, bytes, mode: info.st_mode & 0o666)
    }

    public static func makeDirectory(_ path: String) throws(SafeTensorsError) {
        guard mkdir(path, 0o755) == 0 || (errno == EEXIST && isDirectory(path)) else { throw error(path, "cannot create directory") }
    }

    /// The longest path the system opens (PATH_MAX: 4096 bytes on Linux).
    public static let maxPathBytes = Int(PATH_MAX)

    /// Why `path` cannot name a file, or nil: longer than `maxPathBytes`. The message gives
    /// its length and first characters only, so that an absurd path (megabytes from a
    /// config) is neither looked up nor echoed whole.
    public static func pathTooLong(_ path: String) -> String? {
        let count = path.utf8.count
        guard count > maxPathBytes else { return nil }
        return "a path of \(count) bytes (\"\(path.prefix(32))…\"), longer than the \(maxPathBytes) bytes a path can have"
    }

    /// `path` made absolute against the current directory, with `.` and `..` resolved.
    public static func absolute(_ path: String) -> String {
        var full = path
        if !path.hasPrefix("/"), let cwd = getcwd(nil, 0) {
            full = String(cString: cwd) + "/" + path
            free(cwd)
        }
        var parts: [Substring] = []
        for part in full.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Creates `path` and any missing parent folders (like `mkdir -p`).
    public static func makeDirectories(_ path: String) throws(SafeTensorsError) {
        if isDirectory(path) { return }
        let parentPath = parent(of: path)
        if parentPath != path && parentPath != "." && parentPath != "/" { try makeDirectories(parentPath) }
        try makeDirectory(path)
    }

    /// True when `path` itself is a symbolic link (whatever it points to).
    public static func isSymbolicLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    /// Deletes a file or a folder and everything in it (missing paths are fine); a symbolic
    /// link is removed itself, never followed.
    public static func remove(_ path: String) {
        if !isSymbolicLink(path) && isDirectory(path) {
            for name in (try? contents(of: path)) ?? [] { remove(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    public static func rename(_ from: String, _ to: String) throws(SafeTensorsError) {
        guard Glibc.rename(from, to) == 0 else { throw error(to, "cannot rename \(from) to it") }
    }

    /// Fsyncs a directory so that renames inside it are durable.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// The directory part of a path ("." when there is none).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `path` joined to `name` with one slash.
    public static func join(_ path: String, _ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    static func error(_ path: String, _ what: String) -> SafeTensorsError {
        SafeTensorsError(file: path, .ioFailure("\(what): \(String(cString: strerror(errno)))"))
    }
}
