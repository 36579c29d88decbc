//! [`Escaped`]: untrusted datagram bytes, shown safely on a terminal.

use std::fmt::{self, Write};

/// Displays bytes from the network as text without letting them act on the
/// terminal or the log.
///
/// The Go server prints `string(data[:n])` raw, so a datagram can carry
/// escape sequences that recolour or clear the operator's terminal, or a
/// newline that forges a whole fake log line. Here valid UTF-8 is shown as
/// [`char::escape_debug`] shows it (control characters as `\n`, `\u{1b}`…,
/// and `\` as `\\` so an escape cannot be faked), quotes are left alone for
/// readability, and every byte that is not UTF-8 is shown as `\xNN`.
///
/// Formatting writes straight into the formatter: no allocation per datagram.
///
/// ```
/// use udp_server::Escaped;
/// assert_eq!(Escaped(b"Hello server").to_string(), "Hello server");
/// assert_eq!(Escaped(b"a\n\x1b[2J\xff\"").to_string(), r#"a\n\u{1b}[2J\xff""#);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' | '\'' => f.write_char(c)?,
                    _ => write!(f, "{}", c.escape_debug())?,
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn empty_datagram_shows_as_nothing() {
        assert_eq!(Escaped(b"").to_string(), "");
    }
}
