//! Printing bytes that came from the network, the same way in every program.
//!
//! A peer chooses every byte it sends, including terminal escape sequences
//! and invalid UTF-8. Teaching output shows the text as the Go program
//! would, byte for byte where that is safe: printable text in any script,
//! with its combining marks, spaces, tabs, quotes and backslashes, comes
//! back exactly as it was typed. Only what could drive a terminal, forge a
//! line or make a line read differently from what it holds is shown
//! escaped, and that set is defined by Unicode's own properties
//! ([`is_escaped`], the one place that says it):
//!
//! | property | code points | why |
//! |---|---|---|
//! | `General_Category=Cc`, the control characters, but tab | C0 (`NUL`…`US`), `DEL`, C1 (U+0080…U+009F) | they drive a terminal (`ESC [2J` clears it, `ESC ]0;` retitles it, `BEL`, `CR` overwrites the line) or, as `LF`, forge a line |
//! | `Bidi_Control` | all twelve: U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069 | invisible marks, embeddings, overrides and isolates that reorder what is shown: a line can read differently from what it contains ("Trojan Source") |
//! | `General_Category=Zl` and `Zp` | U+2028, U+2029 | line and paragraph separators end a line in many viewers: a forged line, as `LF` would be |
//! | bytes that are not UTF-8 | each such byte | a terminal may read them as a control sequence of its own |
//!
//! Tab (`Cc`) only moves to the next tab stop: text, not a command. Other
//! invisible format characters (`General_Category=Cf`: zero-width space and
//! joiners, soft hyphen, tag characters) are shown as they are: they can
//! hide a character but neither reorder a line nor end it, and they are
//! part of ordinary text (the zero-width joiner inside emoji, the
//! non-joiner in Persian, tags in flags of regions), which escaping would
//! change for every user who sends them.
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
use std::ops::RangeInclusive;

/// Opens every escape; escaped itself when it arrives as text.
const OPEN: char = '⟦';
/// Closes every escape.
const CLOSE: char = '⟧';

/// Displays untrusted bytes safely, without allocating: printable text as
/// it is, the rest as `⟦…⟧` escapes (see the module doc for why).
///
/// ```
/// use edges::Escaped;
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
                if is_escaped(c) {
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

/// Whether [`Escaped`] shows `c` escaped: the escape's own opener `⟦` (so
/// that text cannot forge an escape), and the Unicode properties the
/// module doc lists, with why.
///
/// ```
/// use edges::text::is_escaped;
/// assert!(is_escaped('\x1b') && is_escaped('\u{202e}') && is_escaped('\u{2028}'));
/// assert!(!is_escaped('\t') && !is_escaped('é') && !is_escaped('\u{200d}'));
/// ```
pub fn is_escaped(c: char) -> bool {
    c == OPEN
        // General_Category=Cc is exactly what std's `char::is_control` tests.
        || (c.is_control() && c != '\t')
        || BIDI_CONTROL.iter().any(|range| range.contains(&c))
        || LINE_OR_PARAGRAPH_SEPARATOR.contains(&c)
}

/// Unicode's `Bidi_Control` property, as `PropList.txt` lists it (stable
/// since Unicode 6.3, when U+061C and the isolates joined it).
const BIDI_CONTROL: [RangeInclusive<char>; 4] = [
    '\u{061c}'..='\u{061c}', // ARABIC LETTER MARK
    '\u{200e}'..='\u{200f}', // LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK
    '\u{202a}'..='\u{202e}', // the embeddings, POP DIRECTIONAL FORMATTING, the overrides
    '\u{2066}'..='\u{2069}', // the isolates, POP DIRECTIONAL ISOLATE
];

/// `General_Category=Zl` (U+2028) and `Zp` (U+2029): one code point each.
const LINE_OR_PARAGRAPH_SEPARATOR: [char; 2] = ['\u{2028}', '\u{2029}'];

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
        // The Arabic letter mark, the twelfth Bidi_Control.
        assert_eq!(shown("a\u{61c}b".as_bytes()), "a⟦U+061C⟧b");
    }

    /// Every code point, against Unicode's own property data (ICU4X's, an
    /// independent source): escaped exactly when one of the properties the
    /// module doc names holds, or when it is the escape's opener.
    #[test]
    fn the_escaped_set_is_exactly_the_unicode_properties_named() {
        use icu_properties::props::{BidiControl, GeneralCategory};
        use icu_properties::{CodePointMapData, CodePointSetData};
        let bidi_control = CodePointSetData::new::<BidiControl>();
        let category = CodePointMapData::<GeneralCategory>::new();
        let mut bidi_controls = 0;
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let by_property = match category.get(c) {
                GeneralCategory::Control => c != '\t',
                GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => true,
                _ => bidi_control.contains(c),
            };
            bidi_controls += usize::from(bidi_control.contains(c));
            assert_eq!(
                super::is_escaped(c),
                by_property || c == super::OPEN,
                "U+{:04X}",
                u32::from(c)
            );
        }
        assert_eq!(bidi_controls, 12);
    }

    #[test]
    fn invisible_format_characters_of_ordinary_text_are_kept() {
        // A family emoji (zero-width joiners) and a Persian word with a
        // zero-width non-joiner.
        for typed in ["👨\u{200d}👩\u{200d}👧", "می\u{200c}خواهم"] {
            assert_eq!(shown(typed.as_bytes()), typed);
        }
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
