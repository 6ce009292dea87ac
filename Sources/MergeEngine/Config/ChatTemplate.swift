import TensorIO

/// `chat_template:` of a merge config, by mergekit 0.1.5's rules: a bundled template by name
/// (`chatml`, `alpaca`, `llama3`, `mistral`, `exaone`), `auto` (the template most input
/// models share), or the Jinja text itself. The output's `chat_template.jinja` holds the result.
public enum ChatTemplate {
    /// Crucible's own templates for the prompt formats mergekit names. chatml, llama3 and
    /// mistral render every conversation as mergekit's do (jinja2, in the opt-in test
    /// `chatTemplatesAgainstMergekit`); alpaca puts a blank line before the generation prompt
    /// and exaone renders no indentation, where mergekit's copies run text together or indent it.
    public static let named: [String: String] = [
        "alpaca": #"""
            {%- set systems = messages | selectattr('role', 'equalto', 'system') | list -%}
            {{ (systems | last).content | trim if systems else '' }}{{ '\n\n' }}
            {%- set headings = {'user': '### Instruction:', 'assistant': '### Response:', 'user_context': '### Input:'} -%}
            {%- for message in messages if message['role'] in headings -%}
            {{ ('' if loop.first else '\n\n') ~ headings[message['role']] ~ '\n' ~ (message['content'] | trim) }}
            {%- endfor -%}
            {%- if add_generation_prompt and messages[-1]['role'] != 'assistant' -%}
            {{ '\n\n### Response:\n' }}
            {%- endif -%}
            """#,
        "chatml": #"""
            {%- for message in messages -%}
            {{ '<|im_start|>' ~ message['role'] ~ '\n' ~ message['content'] ~ '<|im_end|>\n' }}
            {%- endfor -%}
            {%- if add_generation_prompt -%}
            {{ '<|im_start|>assistant\n' }}
            {%- endif -%}
            """#,
        "exaone": #"""
            {%- for message in messages -%}
            {%- if loop.first and message['role'] != 'system' %}{{ '[|system|][|endofturn|]\n' }}{% endif -%}
            {{ '[|' ~ message['role'] ~ '|]' ~ message['content'] ~ ('\n' if message['role'] == 'user' else '[|endofturn|]\n') }}
            {%- endfor -%}
            {%- if add_generation_prompt %}{{ '[|assistant|]' }}{% endif -%}
            """#,
        "llama3": #"""
            {%- for message in messages -%}
            {%- if loop.first %}{{ bos_token }}{% endif -%}
            {{ '<|start_header_id|>' ~ message['role'] ~ '<|end_header_id|>\n\n' ~ (message['content'] | trim) ~ '<|eot_id|>\n' }}
            {%- endfor -%}
            {%- if add_generation_prompt -%}
            {{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
            {%- endif -%}
            """#,
        "mistral": #"""
            {%- set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else none -%}
            {%- set turns = messages[1:] if system is not none else messages -%}
            {{ bos_token }}
            {%- for message in turns -%}
            {%- if (message['role'] == 'user') != loop.index0 is even -%}
            {{ raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
            {%- endif -%}
            {%- if message['role'] == 'user' -%}
            {{ ' [INST] ' ~ (system ~ '\n\n' if loop.first and system is not none else '') ~ message['content'] ~ ' [/INST]' }}
            {%- elif message['role'] == 'assistant' -%}
            {{ ' ' ~ message['content'] ~ eos_token }}
            {%- else -%}
            {{ raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
            {%- endif -%}
            {%- endfor -%}
            """#,
    ]

    /// Why `setting` cannot be a chat template, if it cannot (mergekit's test: a name it
    /// bundles, or text of at least 20 characters with a `{`).
    static func problem(_ setting: String) -> String? {
        if setting == "auto" || named[setting] != nil { return nil }
        if setting.unicodeScalars.count < 20 || !setting.contains("{") {
            return "\"\(setting)\" is neither a bundled template (\(named.keys.sorted().joined(separator: ", ")), or auto) nor Jinja template text"
        }
        return nil
    }

    /// The template `setting` stands for, given the input models' folders (base first, then
    /// in config order); nil when `auto` finds no input with a template (the copied tokenizer
    /// files keep theirs). Ties in `auto` go to the template met first.
    public static func resolve(_ setting: String, inputs folders: [String]) -> String? {
        if let template = named[setting] { return template }
        guard setting == "auto" else { return setting }
        var counts: [String: Int] = [:], order: [String] = []
        var seen = Set<String>()
        for folder in folders where seen.insert(folder).inserted {
            guard let template = own(in: folder)?.trimmingWhitespace, !template.isEmpty else { continue }
            if counts[template] == nil { order.append(template) }
            counts[template, default: 0] += 1
        }
        let most = counts.values.max() ?? 0
        return order.first { counts[$0] == most }
    }

    /// A model folder's own template: `chat_template.jinja`, else `tokenizer_config.json`'s
    /// `chat_template` (a string, or the one named `default` of a list of named templates).
    static func own(in folder: String) -> String? {
        let limit = 16 << 20
        if let text = try? FileSystem.readText(FileSystem.join(folder, "chat_template.jinja"), limit: limit, what: "the chat template") {
            return text
        }
        guard let text = try? FileSystem.readText(FileSystem.join(folder, "tokenizer_config.json"), limit: limit, what: "the tokenizer config"),
              case .object(let config)? = try? JSONParser.parse(text) else { return nil }
        switch config["chat_template"] {
        case .string(let template)?:
            return template
        case .array(let list)?:
            for case .object(let entry) in list where entry["name"]?.stringValue == "default" { return entry["template"]?.stringValue }
            return nil
        default:
            return nil
        }
    }
}

extension String {
    /// Without leading and trailing whitespace (Python's `str.strip()`).
    fileprivate var trimmingWhitespace: String {
        var scalars = Substring(self).unicodeScalars
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
