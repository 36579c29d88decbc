//! The chat's protocol as a peer sees it: what a line it sends asks for
//! ([`Request`]), which names it may take ([`refuse_name`]), and the words
//! the server answers with. The whole table is in the README's section on
//! the chat; the Go twin (`go/beyond-the-tutorial/chat/main.go`) reads a
//! line the same way, in `handle` and `readLines`.
//!
//! A line is bytes, not text: a peer may send bytes that are not UTF-8,
//! and they are passed on as they came. Only a name's rules need
//! characters, and there a byte that is not UTF-8 counts as one character,
//! as Go's `range` over a string counts it.

/// What a peer's line asks of the room.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Any line not starting with `/`: said to every other peer.
    Say(&'a [u8]),
    /// A line starting with `/`.
    Command(Command<'a>),
}

/// A line starting with `/`.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `/nick NEW` (or `/nick` alone, which names no one and is refused).
    Nick(&'a [u8]),
    /// `/quit`, exactly: the peer leaves.
    Quit,
    /// Any other.
    Unknown,
}

impl<'a> Request<'a> {
    /// What `line` (without its newline) asks for. `/nick` takes what
    /// follows its one space as the name, whatever it is (`/nick  bob`
    /// asks for " bob", which is refused for its space); `/quit now` is no
    /// command.
    pub fn parse(line: &'a [u8]) -> Self {
        let Some(command) = line.strip_prefix(b"/") else {
            return Request::Say(line);
        };
        Request::Command(match command {
            b"quit" => Command::Quit,
            b"nick" => Command::Nick(b""),
            _ => match command.strip_prefix(b"nick ") {
                Some(name) => Command::Nick(name),
                None => Command::Unknown,
            },
        })
    }
}

/// What the commands are, said after a welcome and after an unknown one.
const HELP: &str = "/nick NAME renames you, /quit leaves";

/// The line a peer gets first: who it is, and how many others are here.
pub fn welcome(name: &[u8], others: usize) -> Vec<u8> {
    let mut line = b"* welcome, you are ".to_vec();
    line.extend_from_slice(name);
    line.extend_from_slice(format!("; {others} others here; {HELP}\n").as_bytes());
    line
}

/// The answer to a command the server does not know.
pub fn unknown_command() -> Vec<u8> {
    format!("* unknown command; {HELP}\n").into_bytes()
}

/// A notice (`* guest2 joined`): `*`, a name, what happened, a newline.
pub fn notice(name: &[u8], what: &str) -> Vec<u8> {
    [b"* ", name, what.as_bytes(), b"\n"].concat()
}

/// `* OLD is now NEW`, to everyone, the renamed peer included.
pub fn renamed(old: &[u8], new: &[u8]) -> Vec<u8> {
    [b"* ", old, b" is now ", new, b"\n"].concat()
}

/// Appends `NAME: TEXT` and its newline to `out`: what the others get of
/// a line a peer said.
pub fn said(out: &mut Vec<u8>, name: &[u8], text: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// The name of the `n`th connection: `guest1`, `guest2`, …
pub fn guest_name(n: u64) -> Vec<u8> {
    format!("guest{n}").into_bytes()
}

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Why `name` cannot be a name whatever the room holds, if it cannot: 1 to
/// [`MAX_NAME_CHARS`] characters, none of them whitespace or a control
/// character (which could break or forge a line on a peer's terminal), and
/// not a guest's name. (Whether another peer has it is the room's to say.)
///
/// A guest's name (`guest` and digits) is kept for the newcomers it is
/// given to: a peer that took `guest7` would share it with the seventh
/// connection when it came.
pub fn refuse_name(name: &[u8]) -> Option<&'static str> {
    if !(1..=MAX_NAME_CHARS).contains(&characters(name).count()) {
        return Some("a name has 1 to 32 characters");
    }
    let unfit = |c: Option<char>| c.is_some_and(|c| c.is_whitespace() || c.is_control());
    if characters(name).any(unfit) {
        return Some("a name has no spaces or control characters");
    }
    let digits = name.strip_prefix(b"guest").unwrap_or_default();
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return Some("guest names are given to newcomers");
    }
    None
}

/// The characters of `bytes`: `Some` each character of its UTF-8, `None`
/// each byte that is not UTF-8.
fn characters(bytes: &[u8]) -> impl Iterator<Item = Option<char>> + '_ {
    bytes.utf8_chunks().flat_map(|chunk| {
        let invalid = chunk.invalid().iter().map(|_| None);
        chunk.valid().chars().map(Some).chain(invalid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_a_command_only_as_the_protocol_spells_it() {
        let command = |line| match Request::parse(line) {
            Request::Command(command) => command,
            said => panic!("{line:?} is a command, not {said:?}"),
        };
        assert_eq!(command(b"/quit"), Command::Quit);
        assert_eq!(command(b"/quit now"), Command::Unknown);
        assert_eq!(command(b"/nick bob"), Command::Nick(b"bob"));
        assert_eq!(command(b"/nick"), Command::Nick(b""));
        assert_eq!(command(b"/nick  bob"), Command::Nick(b" bob"));
        assert_eq!(command(b"/nickname"), Command::Unknown);
        assert_eq!(command(b"/help"), Command::Unknown);
        assert_eq!(command(b"/"), Command::Unknown);
        assert_eq!(Request::parse(b""), Request::Say(b""));
        assert_eq!(Request::parse(b" /quit"), Request::Say(b" /quit"));
        assert_eq!(Request::parse(b"\xff/x"), Request::Say(b"\xff/x"));
    }

    #[test]
    fn names_with_control_characters_or_whitespace_are_refused() {
        let no_spaces = Some("a name has no spaces or control characters");
        for name in [
            &b"a\x1b[2Jb"[..],
            b"bell\x07",
            b"del\x7f",
            "c1\u{85}".as_bytes(),
            b"two words",
            b"tab\there",
            "nbsp\u{a0}".as_bytes(),
            "ideographic\u{3000}space".as_bytes(),
            "line\u{2028}separator".as_bytes(),
        ] {
            assert_eq!(refuse_name(name), no_spaces, "{name:?}");
        }
    }

    #[test]
    fn a_name_has_1_to_32_characters_counted_as_go_counts_them() {
        let length = Some("a name has 1 to 32 characters");
        assert_eq!(refuse_name(b""), length);
        assert_eq!(refuse_name(&[b'x'; 33]), length);
        assert_eq!(refuse_name(&[b'x'; 32]), None);
        // 32 characters of four bytes each: a name, though 128 bytes.
        assert_eq!(refuse_name("🦀".repeat(32).as_bytes()), None);
        assert_eq!(refuse_name("🦀".repeat(33).as_bytes()), length);
        // Each byte that is not UTF-8 is one character, as in Go.
        assert_eq!(refuse_name(&[0xff; 32]), None);
        assert_eq!(refuse_name(&[0xff; 33]), length);
        assert_eq!(refuse_name("zoë".as_bytes()), None);
    }

    #[test]
    fn guest_names_are_kept_for_newcomers() {
        let kept = Some("guest names are given to newcomers");
        assert_eq!(refuse_name(b"guest7"), kept);
        assert_eq!(refuse_name(b"guest0123"), kept);
        assert_eq!(refuse_name(b"guest"), None);
        assert_eq!(refuse_name(b"guest7b"), None);
        assert_eq!(refuse_name(b"Guest7"), None);
    }

    #[test]
    fn the_servers_words_are_the_protocols() {
        assert_eq!(
            welcome(b"guest3", 2),
            b"* welcome, you are guest3; 2 others here; /nick NAME renames you, /quit leaves\n"
        );
        assert_eq!(notice(b"guest2", " joined"), b"* guest2 joined\n");
        assert_eq!(renamed(b"guest1", b"alice"), b"* guest1 is now alice\n");
        assert_eq!(
            unknown_command(),
            b"* unknown command; /nick NAME renames you, /quit leaves\n"
        );
        let mut out = Vec::new();
        said(&mut out, b"alice", b"hi");
        said(&mut out, b"alice", b"");
        assert_eq!(out, b"alice: hi\nalice: \n");
        assert_eq!(guest_name(12), b"guest12");
    }
}
