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

    public static func readFile(_ path: String) throws(SafeTensorsError) -> [UInt8] {
        let file = try MappedFile(path: path)
        return Array(file.bytes)
    }

    /// Writes `bytes` to `path` and fsyncs it.
    public static func writeFile(_ path: String, _ bytes: [UInt8]) throws(SafeTensorsError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
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

    public static func copyFile(from source: String, to destination: String) throws(SafeTensorsError) {
        try writeFile(destination, readFile(source))
    }

    public static func makeDirectory(_ path: String) throws(SafeTensorsError) {
        guard mkdir(path, 0o755) == 0 || (errno == EEXIST && isDirectory(path)) else { throw error(path, "cannot create directory") }
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
