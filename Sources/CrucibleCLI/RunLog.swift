import Foundation
import TensorIO

/// Log lines of a running job on standard error: plain text above the progress bar, or one
/// JSON object per line (`--log-format json`) for log collectors.
struct RunLog: Sendable {
    let format: LogFormat
    let quiet: Bool
    let bar: ProgressBar

    func callAsFunction(_ message: String, event: String = "log", fields: [(String, JSONValue)] = []) {
        switch format {
        case .text:
            if !quiet { bar.log(message) }
        case .json:
            let time = ISO8601DateFormatter().string(from: Date())
            let head: [(String, JSONValue)] = [("time", .string(time)), ("event", .string(event)), ("message", .string(message))]
            let object = JSONObject((head + fields).map { JSONObject.Entry(key: $0.0, value: $0.1) })
            FileHandle.standardError.write(Data((JSONValue.object(object).serialized() + "\n").utf8))
        }
    }
}
