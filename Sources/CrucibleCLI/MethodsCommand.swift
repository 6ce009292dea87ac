import ArgumentParser
import MergeEngine

struct Methods: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the merge methods and the parameters each accepts.",
        discussion: "Per-model parameters go under models[].parameters (or a source's parameters); global ones under the top-level or a slice's parameters."
    )

    @Argument(help: "Show only this method.")
    var name: String?

    @Flag(help: "Print Markdown (the text of docs/methods.md).")
    var markdown = false

    func run() throws {
        let methods = try name.map { n -> [any MergeMethod] in
            guard let m = MethodRegistry.method(named: n) else {
                throw CLIError("unknown method \"\(n)\"; available: \(MethodRegistry.names.joined(separator: ", "))")
            }
            return [m]
        } ?? MethodRegistry.all
        print(markdown ? MethodDocs.markdown(methods) : MethodDocs.text(methods))
    }
}
