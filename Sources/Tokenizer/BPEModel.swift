import Synchronization
import TensorIO

/// The `model` of tokenizer.json when its type is BPE: a vocabulary and merges applied by rank
/// to each pre-tokenized word (`tokenizers`' `BPE::tokenize`).
final class BPEModel: Sendable {
    /// Token ids by their text's UTF-8 bytes (bytes, not `String`: Swift's `String` equality is
    /// canonical equivalence, which would make "é" and "e\u{301}" the same token).
    let vocab: [[UInt8]: Int32]
    /// The text of each id (for decoding).
    let tokens: [Int32: String]
    /// (left id, right id) packed in 64 bits -> (rank, merged id).
    let merges: [UInt64: (rank: Int32, id: Int32)]
    let unkID: Int32?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: [UInt8]?
    let endOfWordSuffix: [UInt8]?
    /// The byte-fallback token (`<0xAB>`) of each byte, where the vocabulary has it.
    let byteTokens: [Int32?]
    /// Words already encoded, by their UTF-8 bytes (a `String` key would conflate canonically
    /// equivalent words, "Å" and "A\u{30A}", which BPE encodes differently).
    private let cache = Mutex<[[UInt8]: [Int32]]>([:])
    static let cacheCapacity = 10_000

    init(_ value: JSONValue?, file: String) throws {
        let fields = try JSONFields(value, file: file, context: "model")
        guard fields.type == "BPE" || (fields.type == nil && fields["merges"] != nil) else {
            throw fields.unsupported("model")
        }
        if let dropout = fields["dropout"], dropout.doubleValue != nil, dropout.doubleValue != 0 {
            throw fields.error("BPE dropout is not supported (it is random)")
        }
        guard let vocabObject = fields["vocab"]?.objectValue else { throw fields.error("vocab is missing or not an object") }
        var vocab = [[UInt8]: Int32](minimumCapacity: vocabObject.entries.count)
        for entry in vocabObject.entries {
            guard let id = entry.value.int64Value, let id32 = Int32(exactly: id), id32 >= 0 else {
                throw fields.error("vocab id of \"\(entry.key)\" is not a token id")
            }
            vocab[Array(entry.key.utf8)] = id32
        }
        // A merge's right part loses the continuing-subword prefix in the merged token ("a ##b" -> "ab").
        let prefixLength = try fields.optionalString("continuing_subword_prefix")?.utf8.count ?? 0
        var merges = [UInt64: (rank: Int32, id: Int32)](minimumCapacity: (fields["merges"]?.arrayValue?.count ?? 0))
        for (rank, merge) in try fields.array("merges").enumerated() {
            let pair: [String]
            if let text = merge.stringValue {
                // "a b": split at the first space (tokens never hold one: it is Ġ or ▁ by then).
                let parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                pair = parts.map(String.init)
            } else if let array = merge.arrayValue {
                pair = array.compactMap(\.stringValue)
            } else {
                pair = []
            }
            guard pair.count == 2 else { throw fields.error("merges[\(rank)] is not a pair") }
            guard let left = vocab[Array(pair[0].utf8)], let right = vocab[Array(pair[1].utf8)] else {
                throw fields.error("merges[\(rank)] names a token missing from the vocab")
            }
            let rightBytes = Array(pair[1].utf8)
            guard rightBytes.count >= prefixLength,
                  let merged = vocab[Array(pair[0].utf8) + rightBytes[prefixLength...]] else {
                throw fields.error("merges[\(rank)]: the merged token is missing from the vocab")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            merges[key] = (Int32(rank), merged)  // a repeated pair: the last wins, as in `tokenizers`
        }
        if let unk = try fields.optionalString("unk_token") {
            guard let id = vocab[Array(unk.utf8)] else { throw fields.error("unk_token \"\(unk)\" is not in the vocab") }
            unkID = id
        } else {
            unkID = nil
        }
        self.vocab = vocab
        tokens = Dictionary(vocabObject.entries.map { ($0.value.int64Value.map { Int32($0) } ?? -1, $0.key) }, uniquingKeysWith: { a, _ in a })
        self.merges = merges
        fuseUnk = try fields.bool("fuse_unk", default: false)
        byteFallback = try fields.bool("byte_fallback", default: false)
        ignoreMerges = try fields.bool("ignore_merges", default: false)
        continuingSubwordPrefix = try fields.optionalString("continuing_subword_prefix").map { Array($0.utf8) }
        endOfWordSuffix = try fields.optionalString("end_of_word_suffix").map { Array($0.utf8) }
        byteTokens = (0..<256).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return vocab[Array("<0x\(hex.count == 1 ? "0" + hex : hex)>".utf8)]
        }
    }

    /// The ids of one pre-tokenized word.
    func tokenize(_ word: String) -> [Int32] {
        if word.isEmpty { return [] }
        let bytes = Array(word.utf8)
        if let hit = cache.withLock({ $0[bytes] }) { return hit }
        let ids = encode(bytes)
        cache.withLock { cache in
            if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[bytes] = ids
        }
        return ids
    }

    private func encode(_ bytes: [UInt8]) -> [Int32] {
        if ignoreMerges, let id = vocab[bytes] { return [id] }
        // The word's characters (scalars) as the first symbols.
        var symbols: [Int32] = []
        symbols.reserveCapacity(bytes.count)
        var unk: Int32? = nil
        var starts: [Int] = []
        var i = 0
        while i < bytes.count {
            starts.append(i)
            i += 1
            while i < bytes.count && bytes[i] & 0xC0 == 0x80 { i += 1 }
        }
        for (n, start) in starts.enumerated() {
            let end = n + 1 < starts.count ? starts[n + 1] : bytes.count
            var piece = Array(bytes[start..<end])
            if n > 0, let prefix = continuingSubwordPrefix { piece = prefix + piece }
            if n == starts.count - 1, let suffix = endOfWordSuffix { piece += suffix }
            if let id = vocab[piece] {
                if let pending = unk { symbols.append(pending); unk = nil }
                symbols.append(id)
                continue
            }
            if byteFallback {
                let fallback = piece.map { byteTokens[Int($0)] }
                if fallback.allSatisfy({ $0 != nil }) {
                    // As `tokenizers` does, a pending unknown token is not flushed first.
                    symbols.append(contentsOf: fallback.map { $0! })
                    continue
                }
            }
            if let unkID {
                if let pending = unk, !fuseUnk { symbols.append(pending) }
                unk = unkID
            }
        }
        if let pending = unk { symbols.append(pending) }
        return merge(symbols)
    }

    /// `symbols` with the adjacent pair of lowest rank merged (leftmost on ties) until no pair
    /// merges: a linked list and a heap of candidate merges, as `tokenizers`' `Word::merge_all`
    /// (a word can be a whole text when there is no pre-tokenizer, as in Llama 2's files).
    private func merge(_ symbols: [Int32]) -> [Int32] {
        let n = symbols.count
        if n < 2 { return symbols }
        var id = symbols
        var next = Array(1...n)          // n: none
        var previous = Array(-1..<(n - 1))  // -1: none
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        func candidate(_ left: Int) {
            let right = next[left]
            guard right < n else { return }
            let key = UInt64(UInt32(id[left])) << 32 | UInt64(UInt32(id[right]))
            if let m = merges[key] { heap.push(.init(rank: m.rank, position: left, id: m.id)) }
        }
        for i in 0..<(n - 1) { candidate(i) }
        while let top = heap.pop() {
            let left = top.position
            guard alive[left], next[left] < n else { continue }
            let right = next[left]
            // A stale entry: the pair at `left` changed since it was pushed.
            let key = UInt64(UInt32(id[left])) << 32 | UInt64(UInt32(id[right]))
            guard let m = merges[key], m.id == top.id else { continue }
            id[left] = m.id
            alive[right] = false
            next[left] = next[right]
            if next[right] < n { previous[next[right]] = left }
            if previous[left] >= 0 { candidate(previous[left]) }
            candidate(left)
        }
        return (0..<n).compactMap { alive[$0] ? id[$0] : nil }
    }
}

/// A binary min-heap of candidate merges by (rank, position).
struct MergeHeap {
    struct Entry {
        var rank: Int32
        var position: Int
        var id: Int32
        static func < (a: Entry, b: Entry) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.position < b.position }
    }

    private var items: [Entry] = []

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < items.count && items[l] < items[smallest] { smallest = l }
                if r < items.count && items[r] < items[smallest] { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return first
    }
}
