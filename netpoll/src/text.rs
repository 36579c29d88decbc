//! Printing bytes that came from the network, the same way in every program.
//!
//! A peer chooses every byte it sends, including terminal escape sequences
//! and invalid UTF-8. Teaching output shows the text as the Go program
//! would, but control characters are escaped the way `str::escape_debug`
//! does and invalid UTF-8 bytes are shown as `\xNN`, so no peer can move
//! the cursor, clear the screen or forge a line of our output.

use std::fmt;

/// Displays untrusted bytes safely, without allocating.
///
/// Printable text (any script, with its combining marks) and quotes are
/// shown as they are; control characters, backslashes and the invisible
/// bidirectional-override characters are escaped.
///
/// ```
/// use netpoll::Escaped;
/// assert_eq!(Escaped(b"it's \"ok\"").to_string(), "it's \"ok\"");
/// assert_eq!(Escaped(b"a\r\n\x1b[2J\\").to_string(), r"a\r\n\u{1b}[2J\\");
/// assert_eq!(Escaped(b"caf\xc3\xa9 \xff").to_string(), r"café \xff");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            // Write runs of harmless characters in one call.
            let mut start = 0;
            for (i, c) in valid.char_indices() {
                if needs_escape(c) {
                    f.write_str(&valid[start..i])?;
                    write!(f, "{}", c.escape_debug())?;
                    start = i + c.len_utf8();
                }
            }
            f.write_str(&valid[start..])?;
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        // Bidirectional marks, embeddings, overrides and isolates can make
        // a line read differently from what it contains.
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn bidi_override_cannot_reverse_the_line() {
        assert_eq!(Escaped("a\u{202e}b".as_bytes()).to_string(), r"a\u{202e}b");
    }

    #[test]
    fn combining_marks_stay_readable() {
        assert_eq!(Escaped("e\u{301}".as_bytes()).to_string(), "e\u{301}");
    }

    #[test]
    fn truncated_utf8_sequence_is_shown_as_bytes() {
        assert_eq!(Escaped(b"ok\xe2\x82").to_string(), r"ok\xe2\x82");
    }

    #[test]
    fn plain_text_is_shown_as_is() {
        assert_eq!(
            Escaped("Hello server, ünïcode".as_bytes()).to_string(),
            "Hello server, ünïcode"
        );
    }

    #[test]
    fn a_newline_cannot_forge_a_second_line() {
        let shown = Escaped(b"hi\ndata:forged addr:1.2.3.4:5 count:6").to_string();
        assert!(!shown.contains('\n'));
        assert_eq!(shown, r"hi\ndata:forged addr:1.2.3.4:5 count:6");
    }

    #[test]
    fn terminal_escape_sequences_are_defused() {
        assert_eq!(
            Escaped(b"\x1b]0;pwned\x07").to_string(),
            r"\u{1b}]0;pwned\u{7}"
        );
    }

    #[test]
    fn invalid_utf8_is_shown_byte_by_byte_and_backslash_is_doubled() {
        assert_eq!(Escaped(b"\xc3(\xff\\x41").to_string(), r"\xc3(\xff\\x41");
    }

    #[test]
    fn empty_payload_shows_as_nothing() {
        assert_eq!(Escaped(b"").to_string(), "");
    }
}
