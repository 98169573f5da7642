// Reading the YAML tree into `AgentConfig`, key by key, remembering where each key is.
//
// Yams (libyaml) parses; this file checks the shape: every key must be one the agent
// knows, every value of the type its key takes. Problems are collected rather than thrown
// at the first one, so the error reported is the first in the file's order; the rules on
// values (ranges, combinations) live in Validation.swift.
import Foundation
import Yams

/// Collects the problems and key positions of one configuration file.
final class ConfigReader {
    /// The file the YAML came from (for messages), if any.
    let file: String?
    /// Problems found so far, in no particular order.
    var problems: [ConfigError] = []
    /// The line of every key that was present, by dotted name.
    var lines: [String: Int] = [:]
    /// Every section read, for the unknown-key check at the end.
    private var sections: [SectionReader] = []

    init(file: String?) { self.file = file }

    /// Records a problem with `key`; its line is the key's, when known.
    func report(_ kind: ConfigError.Kind, key: String?, _ reason: String, line: Int?) {
        problems.append(ConfigError(kind, key: key, reason, file: file, line: line))
    }

    /// A reader of the mapping `node` (nil or null = an empty section) named `path`.
    func section(_ node: Node?, path: String, line: Int?) -> SectionReader {
        var entries: [SectionReader.Entry] = []
        switch node {
        case nil:
            break
        case let .mapping(mapping)?:
            for (keyNode, value) in mapping {
                let name = keyNode.scalar?.string ?? "\(keyNode)"
                entries.append(.init(name: name, line: keyNode.mark?.line, value: value))
            }
        case let node? where node.isNull:
            break
        case let node?:
            report(.wrongType, key: path.isEmpty ? nil : path,
                   path.isEmpty
                       ? "the file must be a mapping of sections (capture:, mqtt:, ...), got \(node.describedForError)"
                       : "expected a section (a mapping of keys), got \(node.describedForError)",
                   line: line ?? node.mark?.line)
        }
        let section = SectionReader(path: path, entries: entries, reader: self)
        sections.append(section)
        return section
    }

    /// Reports every key that no section asked for, with a suggestion when one is close:
    /// a known key of the same section, or the same key in another section.
    func reportUnknownKeys() {
        var everyKey: [String] = []
        for section in sections {
            for key in section.asked { everyKey.append(section.dotted(key)) }
        }
        for section in sections {
            for entry in section.entries where !section.asked.contains(entry.name) {
                let dotted = section.dotted(entry.name)
                let what = section.path.isEmpty ? "unknown section" : "unknown key"
                var reason = "\(what) '\(entry.name.oneLine)'"
                if let close = Suggestion.closest(to: entry.name, among: section.asked) {
                    reason += " (did you mean '\(section.dotted(close))'?)"
                } else if let elsewhere = everyKey.first(where: {
                    $0.split(separator: ".").last.map(String.init) == entry.name
                }) {
                    reason += " (it belongs elsewhere: '\(elsewhere)')"
                } else if !section.asked.isEmpty {
                    let known = section.asked.map { section.dotted($0) }.joined(separator: ", ")
                    reason += "; known here: \(known)"
                }
                report(.unknownKey, key: dotted, reason, line: entry.line)
            }
        }
    }
}

/// Reads the keys of one mapping (`mqtt`, `mqtt.tls`...), noting which keys exist.
final class SectionReader {
    /// One `key: value` pair of the mapping.
    struct Entry {
        var name: String
        var line: Int?
        var value: Node
    }

    /// The section's dotted path (`""` for the file's top level).
    let path: String
    /// The pairs of the mapping, in file order.
    let entries: [Entry]
    /// The keys the agent knows here, in the order they were asked for.
    private(set) var asked: [String] = []
    private unowned let reader: ConfigReader

    init(path: String, entries: [Entry], reader: ConfigReader) {
        self.path = path
        self.entries = entries
        self.reader = reader
    }

    /// The dotted name of `key` in this section.
    func dotted(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Declares `key` known and returns its entry when present (nil when absent).
    private func entry(_ key: String) -> Entry? {
        asked.append(key)
        guard let entry = entries.last(where: { $0.name == key }) else { return nil }
        if let line = entry.line { reader.lines[dotted(key)] = line }
        return entry
    }

    /// The sub-section `key` (absent or null = every default).
    func section(_ key: String) -> SectionReader {
        let found = entry(key)
        return reader.section(found?.value, path: dotted(key), line: found?.line)
    }

    /// Reads `key` with `convert`; absent = `defaultValue`; null = `defaultValue` when
    /// `nullable`, else a problem. When `convert` returns nil the value is refused as not
    /// being `expected`.
    private func read<T>(_ key: String, _ defaultValue: T, expected: String, nullable: Bool = false,
                         _ convert: (Node) -> T?) -> T {
        guard let found = entry(key) else { return defaultValue }
        if found.value.isNull {
            if nullable { return defaultValue }
            reader.report(.wrongType, key: dotted(key), "needs a value (\(expected))", line: found.line)
            return defaultValue
        }
        if let value = convert(found.value) { return value }
        if found.value.tagName == .int, found.value.int == nil {
            reader.report(.invalidValue, key: dotted(key), "the integer \(found.value.describedForError.dropFirst("the integer ".count)) is out of range",
                          line: found.line)
            return defaultValue
        }
        var reason = "expected \(expected), got \(found.value.describedForError)"
        if expected.hasPrefix("a string"), case .scalar = found.value {
            reason += " (quote it to mean text)"
        }
        reader.report(.wrongType, key: dotted(key), reason, line: found.line)
        return defaultValue
    }

    /// An integer (`16000`, `1_000`, `0x10`).
    func int(_ key: String, _ defaultValue: Int) -> Int {
        read(key, defaultValue, expected: "an integer") { $0.tagName == .int ? $0.int : nil }
    }

    /// An integer or null (null and absent = nil).
    func optionalInt(_ key: String, _ defaultValue: Int?) -> Int? {
        read(key, defaultValue, expected: "an integer or null", nullable: true) {
            $0.tagName == .int ? $0.int : nil
        }
    }

    /// A number (an integer or a decimal; `.inf` and `.nan` are refused by the validation).
    func double(_ key: String, _ defaultValue: Double) -> Double {
        read(key, defaultValue, expected: "a number", Self.number)
    }

    /// A number or null (null and absent = nil).
    func optionalDouble(_ key: String, _ defaultValue: Double?) -> Double? {
        read(key, defaultValue, expected: "a number or null", nullable: true, Self.number)
    }

    /// `true` or `false` (YAML 1.1 also reads yes/no/on/off).
    func bool(_ key: String, _ defaultValue: Bool) -> Bool {
        read(key, defaultValue, expected: "true or false") { $0.tagName == .bool ? $0.bool : nil }
    }

    /// A string. A number or boolean is refused: quote it if it is meant as text.
    func string(_ key: String, _ defaultValue: String) -> String {
        read(key, defaultValue, expected: "a string", Self.text)
    }

    /// A string where null, absent and `""` all mean "unset" (nil).
    func optionalString(_ key: String, _ defaultValue: String?) -> String? {
        let value: String? = read(key, defaultValue, expected: "a string or null", nullable: true,
                                  Self.text)
        return value?.isEmpty == true ? nil : value
    }

    /// One of the raw values of `T` (`alsa`, `file`...).
    func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ defaultValue: T) -> T
        where T.RawValue == String
    {
        let names = T.allCases.map(\.rawValue)
        let expected = names.count == 2
            ? "\(names[0]) or \(names[1])"
            : names.dropLast().joined(separator: ", ") + " or " + names.last!
        return read(key, defaultValue, expected: expected) { node in
            node.tagName == .str ? node.string.flatMap(T.init(rawValue:)) : nil
        }
    }

    /// A duration: a number of seconds or a string like `30s`, `15m`, `12h`, `7d`, `1h30m`.
    func duration(_ key: String, _ defaultValue: Double) -> Double {
        read(key, defaultValue, expected: "seconds or a duration like 30s, 15m, 12h, 7d") { node in
            if let number = Self.number(node) { return number }
            guard node.tagName == .str, let text = node.string else { return nil }
            return Units.seconds(fromDuration: text)
        }
    }

    /// A whole number of seconds, written as a number or a duration (`60`, `"1m"`).
    func wholeSeconds(_ key: String, _ defaultValue: Int) -> Int {
        read(key, defaultValue, expected: "whole seconds or a duration like 30s, 2m") { node in
            let seconds: Double?
            if let number = Self.number(node) {
                seconds = number
            } else if node.tagName == .str, let text = node.string {
                seconds = Units.seconds(fromDuration: text)
            } else {
                seconds = nil
            }
            guard let seconds, seconds == seconds.rounded(), abs(seconds) < 1e15 else { return nil }
            return Int(seconds)
        }
    }

    /// A byte size: an integer or a string like `500MB`, `2GiB` (0 allowed).
    func byteSize(_ key: String, _ defaultValue: Int) -> Int {
        read(key, defaultValue, expected: "bytes or a size like 500MB, 2GiB") { node in
            if node.tagName == .int { return node.int }
            guard node.tagName == .str, let text = node.string else { return nil }
            return Units.bytes(fromSize: text)
        }
    }

    private static func number(_ node: Node) -> Double? {
        switch node.tagName {
        case .int: return node.int.map(Double.init)
        case .float: return node.float
        default: return nil
        }
    }

    private static func text(_ node: Node) -> String? {
        node.tagName == .str ? node.string : nil
    }
}

extension Node {
    /// The resolved YAML type of the node (`tag:yaml.org,2002:int`...).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }

    /// Whether this is YAML's null (`~`, `null`, or nothing after the colon).
    var isNull: Bool {
        if case .scalar = self { return tagName == .null }
        return false
    }

    /// A short description of the value for an error message: its YAML type and, for a
    /// scalar, its text (shortened, on one line).
    var describedForError: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar):
            var text = scalar.string.oneLine
            if text.count > 40 { text = String(text.prefix(40)) + "..." }
            switch tagName {
            case .int: return "the integer \(text)"
            case .float: return "the number \(text)"
            case .bool: return "the boolean \(text)"
            case .null: return "null"
            case .str: return "the string '\(text)'"
            default: return "'\(text)'"
            }
        }
    }
}
