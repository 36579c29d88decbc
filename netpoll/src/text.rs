//! Printing bytes that came from the network, the same way in every program.
//!
//! A peer chooses every byte it sends, including terminal escape sequences
//! and invalid UTF-8. Teaching output shows the text as the Go program
//! would, byte for byte where that is safe: printable text in any script,
//! with its combining marks, spaces, tabs, quotes and backslashes, comes
//! back exactly as it was typed. Only what could drive a terminal or forge
//! a line is shown escaped: control characters other than tab, bytes that
//! are not UTF-8, the invisible bidirectional controls, and the Unicode
//! line and paragraph separators.
//!
//! # Why `⟦…⟧` and not `\x07`
//!
//! An escape must not be forgeable by text a peer sends. Backslash escapes
//! (`\x07`, `\u{1b}`) are only unambiguous if every literal `\` is doubled,
//! and then `back\slash` is shown as `back\\slash`: ordinary text changed.
//! So an escape here is written between the brackets `⟦` and `⟧`
//! (U+27E6 and U+27E7, mathematical white square brackets), which no one
//! types by accident and which look unlike any ASCII bracket:
//!
//! | what arrived | shown as |
//! |---|---|
//! | an ASCII control character | its ASCII name: `⟦BEL⟧`, `⟦ESC⟧`, `⟦CR⟧`, `⟦LF⟧`, `⟦NUL⟧`, `⟦DEL⟧` |
//! | a byte that is not UTF-8 | `⟦0xff⟧` |
//! | any other escaped character (C1 controls, bidi controls, separators) | `⟦U+202E⟧` |
//! | a literal `⟦` | `⟦U+27E6⟧` |
//!
//! Because a literal `⟦` is itself escaped, every `⟦` on the screen starts
//! an escape and text can never forge one: a user who types `\x07` sees
//! `\x07`, a BEL is shown as `⟦BEL⟧`, and a user who types `⟦BEL⟧` sees
//! `⟦U+27E6⟧BEL⟧`. (The closing `⟧` needs no escape: an escape's inside is
//! a name, `0x` and two hex digits, or `U+` and hex digits, never a `⟧`.)
//! The cost is one character nobody types shown changed; backslash-doubling
//! would change every path and regular expression a learner sends.

use std::fmt;

/// Opens every escape; escaped itself when it arrives as text.
const OPEN: char = '⟦';
/// Closes every escape.
const CLOSE: char = '⟧';

/// Displays untrusted bytes safely, without allocating: printable text as
/// it is, the rest as `⟦…⟧` escapes (see the module doc for why).
///
/// ```
/// use netpoll::Escaped;
/// assert_eq!(Escaped(b"it's \"ok\"\tC:\\tmp").to_string(), "it's \"ok\"\tC:\\tmp");
/// assert_eq!(Escaped(b"a\r\n\x1b[2J").to_string(), "a⟦CR⟧⟦LF⟧⟦ESC⟧[2J");
/// assert_eq!(Escaped(b"caf\xc3\xa9 \xff").to_string(), "café ⟦0xff⟧");
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
                    write_escape(f, c)?;
                    start = i + c.len_utf8();
                }
            }
            f.write_str(&valid[start..])?;
            for byte in chunk.invalid() {
                write!(f, "{OPEN}0x{byte:02x}{CLOSE}")?;
            }
        }
        Ok(())
    }
}

/// The ASCII names of the C0 control characters, by code.
const C0_NAMES: [&str; 32] = [
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
    "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
    "FS", "GS", "RS", "US",
];

fn write_escape(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    let name = match u32::from(c) {
        code @ 0..0x20 => C0_NAMES[code as usize],
        0x7f => "DEL",
        code => return write!(f, "{OPEN}U+{code:04X}{CLOSE}"),
    };
    write!(f, "{OPEN}{name}{CLOSE}")
}

fn needs_escape(c: char) -> bool {
    // Tab only moves to the next tab stop: text, not a command.
    (c.is_control() && c != '\t')
        // The escape's own opener, so that text cannot forge an escape.
        || c == OPEN
        // Bidirectional marks, embeddings, overrides and isolates can make
        // a line read differently from what it contains.
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        // Line and paragraph separators end a line in many viewers: a
        // forged line, as `\n` would be.
        || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    fn shown(bytes: &[u8]) -> String {
        Escaped(bytes).to_string()
    }

    #[test]
    fn printable_text_with_quotes_backslashes_and_tabs_comes_back_as_typed() {
        for typed in [
            "quote\"back\\slash",
            "a\tb",
            r"C:\Users\x07 \u{1b} \\ \n",
            "Hello server, ünïcode, 日本語, ⟧",
            "it's <BEL> [ESC] {CR}",
        ] {
            assert_eq!(shown(typed.as_bytes()), typed);
        }
    }

    #[test]
    fn a_typed_backslash_escape_cannot_look_like_an_escaped_control() {
        let typed = shown(br"\x07");
        let bel = shown(b"\x07");
        assert_eq!(typed, r"\x07");
        assert_eq!(bel, "⟦BEL⟧");
        assert_ne!(typed, bel);
    }

    #[test]
    fn a_typed_escape_bracket_is_escaped_so_no_escape_can_be_forged() {
        assert_eq!(shown("⟦BEL⟧".as_bytes()), "⟦U+27E6⟧BEL⟧");
        assert_ne!(shown("⟦BEL⟧".as_bytes()), shown(b"\x07"));
        // Every `⟦` shown starts a real escape, whatever was sent.
        let hostile = shown("⟦⟦0xff⟧⟦U+27E6⟧\x1b".as_bytes());
        assert_eq!(hostile.matches('⟦').count(), 4, "{hostile}");
        assert!(hostile.starts_with("⟦U+27E6⟧⟦U+27E6⟧0xff⟧"), "{hostile}");
    }

    #[test]
    fn each_kind_of_escape_is_distinct() {
        // The form feed's name and the byte 0xff must not collide.
        assert_eq!(shown(b"\x0c\xff"), "⟦FF⟧⟦0xff⟧");
        assert_eq!(shown(b"\x00\x7f"), "⟦NUL⟧⟦DEL⟧");
        // A C1 control (NEL), valid UTF-8 but a control all the same.
        assert_eq!(shown("a\u{85}b".as_bytes()), "a⟦U+0085⟧b");
    }

    #[test]
    fn bidi_override_cannot_reverse_the_line() {
        assert_eq!(shown("a\u{202e}b".as_bytes()), "a⟦U+202E⟧b");
    }

    #[test]
    fn combining_marks_stay_readable() {
        assert_eq!(shown("e\u{301}".as_bytes()), "e\u{301}");
    }

    #[test]
    fn truncated_utf8_sequence_is_shown_as_bytes() {
        assert_eq!(shown(b"ok\xe2\x82"), "ok⟦0xe2⟧⟦0x82⟧");
    }

    #[test]
    fn a_newline_or_line_separator_cannot_forge_a_second_line() {
        let shown_text = shown(b"hi\ndata:forged addr:1.2.3.4:5 count:6");
        assert!(!shown_text.contains('\n'));
        assert_eq!(shown_text, "hi⟦LF⟧data:forged addr:1.2.3.4:5 count:6");
        assert_eq!(shown("a\u{2028}b".as_bytes()), "a⟦U+2028⟧b");
    }

    #[test]
    fn terminal_escape_sequences_are_defused() {
        assert_eq!(shown(b"\x1b]0;pwned\x07"), "⟦ESC⟧]0;pwned⟦BEL⟧");
    }

    #[test]
    fn invalid_utf8_is_shown_byte_by_byte() {
        assert_eq!(shown(b"\xc3(\xff\\x41"), r"⟦0xc3⟧(⟦0xff⟧\x41");
    }

    #[test]
    fn empty_payload_shows_as_nothing() {
        assert_eq!(shown(b""), "");
    }
}
