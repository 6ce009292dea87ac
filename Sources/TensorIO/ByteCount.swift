/// Parses sizes such as `5B`, `500M`, `64K`, `1.5B`, `5e9` or `1000000` into bytes.
/// Suffixes are decimal, as in mergekit's `--out-shard-size`: K = 10³, M = 10⁶, B (or G) = 10⁹.
public enum ByteCount {
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: " ")
        guard let last = trimmed.last else { return nil }
        let multiplier: Double
        var number = Substring(trimmed)
        switch last {
        case "K", "k": multiplier = 1e3; number = number.dropLast()
        case "M", "m": multiplier = 1e6; number = number.dropLast()
        case "B", "b", "G", "g": multiplier = 1e9; number = number.dropLast()
        default: multiplier = 1
        }
        guard let value = Double(number), value.isFinite, value > 0 else { return nil }
        let bytes = (value * multiplier).rounded()
        guard bytes >= 1, bytes < 9.2e18 else { return nil }
        return UInt64(bytes)
    }

    /// A size for people: `1.23 GB`, `512 KB`, `17 B` (decimal units).
    public static func format(_ bytes: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        if unit == 0 { return "\(bytes) B" }
        return formatDecimal(value, places: value >= 100 ? 0 : value >= 10 ? 1 : 2) + " " + units[unit]
    }

    /// `value` with a fixed number of decimal places, without Foundation.
    public static func formatDecimal(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return String(value) }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
        if places > 0 {
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: places - digits.count) + digits
        }
        return text
    }
}

extension StringProtocol {
    func trimmingCharacters(in character: Character) -> String {
        var s = Substring(self)
        while s.first == character { s = s.dropFirst() }
        while s.last == character { s = s.dropLast() }
        return String(s)
    }
}
