extension String {
    /// The text with line breaks and runs of spaces collapsed to single spaces, trimmed: one
    /// line for a report or an error message (empty when nothing but space was there).
    public var collapsedToOneLine: String {
        split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}
