/// Human-readable listings of the methods, generated from their declarations: the text of
/// `crucible methods` and of docs/methods.md.
public enum MethodDocs {
    public static func text(_ methods: [any MergeMethod]) -> String {
        methods.map { m in
            var out = "\(m.name)\(m.isRandomized ? " (randomized)" : "")\n  \(m.summary)\n  inputs: \(m.inputContract)\n"
            for p in m.parameters {
                let value = p.defaultValue.map { "default \($0)" } ?? "required"
                let range = p.valid.map { ", in \($0)" } ?? ""
                out += "    \(p.name) (\(p.scope.rawValue) \(p.kind.rawValue)\(range), \(value)): \(p.help)\n"
            }
            if m.parameters.isEmpty { out += "    (no parameters)\n" }
            return out
        }.joined(separator: "\n")
    }

    public static func markdown(_ methods: [any MergeMethod]) -> String {
        var out = "| method | inputs | parameters |\n|---|---|---|\n"
        for m in methods {
            let params = m.parameters.map { p in
                "`\(p.name)` (\(p.scope.rawValue), \(p.defaultValue.map { "default `\($0)`" } ?? "required"))"
            }.joined(separator: ", ")
            out += "| `\(m.name)`\(m.isRandomized ? " (randomized)" : "") | \(m.inputContract) | \(params.isEmpty ? "none" : params) |\n"
        }
        out += "\n"
        for m in methods {
            out += "### \(m.name)\n\n\(m.summary) Inputs: \(m.inputContract).\n\n"
            for p in m.parameters {
                let range = p.valid.map { " in `\($0)`" } ?? ""
                out += "- `\(p.name)` — \(p.scope.rawValue) \(p.kind.rawValue)\(range), \(p.defaultValue.map { "default `\($0)`" } ?? "required"). \(p.help)\n"
            }
            out += "\n"
        }
        return out
    }
}
