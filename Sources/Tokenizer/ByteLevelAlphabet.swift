/// GPT-2's byte-to-unicode map: every byte becomes one printable character, so that byte-level
/// BPE vocabularies are plain strings. Printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`)
/// map to themselves; the other 68 bytes map to U+0100 onwards, in byte order.
enum ByteLevelAlphabet {
    /// The character (as UTF-8 bytes) of each byte, indexed by the byte.
    static let characters: [[UInt8]] = {
        var printable = Set<Int>()
        printable.formUnion(0x21...0x7E)
        printable.formUnion(0xA1...0xAC)
        printable.formUnion(0xAE...0xFF)
        var next = 256
        var map = [[UInt8]](repeating: [], count: 256)
        for byte in 0..<256 {
            let code: Int
            if printable.contains(byte) {
                code = byte
            } else {
                code = next
                next += 1
            }
            map[byte] = Array(String(Character(Unicode.Scalar(UInt32(code))!)).utf8)
        }
        return map
    }()

    /// The byte of each character, the inverse of `characters`.
    static let byte: [Unicode.Scalar: UInt8] = Dictionary(uniqueKeysWithValues: characters.enumerated().map {
        (String(decoding: $0.element, as: UTF8.self).unicodeScalars.first!, UInt8($0.offset))
    })

    /// `text`'s UTF-8 bytes, each replaced by its character.
    static func encode(_ text: Substring) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 2)
        for byte in text.utf8 { out.append(contentsOf: characters[Int(byte)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
