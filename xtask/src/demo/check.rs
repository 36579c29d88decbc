//! Reading the programs' output: the pure part of every check, so each rule
//! is unit-tested without starting a program.
//!
//! The programs' lines are a contract (the Go programs' own `fmt.Println`
//! text, plus `listening on <addr>` and a `summary:` line), so the checks
//! parse exactly those lines and say what they saw when they fail. (The
//! `listening on <addr>` line is read by `harness::listening_addr`, the one
//! parser of it.)

/// The number right after `key` in `line`: `number_after("read 520 bytes",
/// "read ")` is 520. Used on summary lines, which name each figure.
pub fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// The text of a teaching line `<prefix><text> (from <peer>)`, as our
/// servers print each read or message: the Go line plus the peer. Without
/// the ` (from …)` part (the Go servers' own lines) the whole rest is the text.
pub fn payload<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(prefix)?;
    match rest.rfind(" (from ") {
        Some(at) if rest.ends_with(')') => Some(&rest[..at]),
        _ => Some(rest),
    }
}

/// The texts of every teaching line with `prefix`, in order.
pub fn payloads<'a>(lines: &'a [String], prefix: &str) -> Vec<&'a str> {
    lines.iter().filter_map(|l| payload(l, prefix)).collect()
}

/// The two lines the Go tutorial prints for a read: `tcp/server`'s, which
/// the sticky-packet chapter's "unchanged" server also prints, and the
/// chapter's own sample output's (which `server2` prints for a message).
pub const RECEIVED_PREFIXES: [&str; 2] = [
    "received client Data sent from terminal: ",
    "received client Data sent: ",
];

/// The texts of every read a raw (unframed) server printed, with either of
/// the [`RECEIVED_PREFIXES`], in order.
pub fn received_texts(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| RECEIVED_PREFIXES.iter().find_map(|p| payload(l, p)))
        .collect()
}

/// The picture in the raw server's `<peer>: reads 1234|56…` line, which
/// shows where its reads ended among the messages.
pub fn picture(line: &str) -> Option<&str> {
    let (_, picture) = line.split_once(": reads ")?;
    Some(picture.trim())
}

/// The last `summary: …` line, which servers print when they stop.
pub fn summary(lines: &[String]) -> Option<&str> {
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("summary:"))
        .map(String::as_str)
}

/// `got` must be exactly the `expected` lines; the error says where and how
/// they differ (with lengths, since the lines can be 2 000 characters).
pub fn exact_lines(got: &[String], expected: &[&str]) -> Result<(), String> {
    for (i, want) in expected.iter().enumerate() {
        match got.get(i) {
            None => {
                return Err(format!(
                    "printed {} line(s), expected {}; line {} ({} characters) is missing",
                    got.len(),
                    expected.len(),
                    i + 1,
                    want.len()
                ));
            }
            Some(line) if line != want => {
                let same = line
                    .bytes()
                    .zip(want.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                return Err(format!(
                    "line {} has {} characters where {} were expected, first difference at \
                     character {}",
                    i + 1,
                    line.len(),
                    want.len(),
                    same + 1
                ));
            }
            Some(_) => {}
        }
    }
    if got.len() > expected.len() {
        return Err(format!(
            "printed {} lines, expected {}; extra: {:?}",
            got.len(),
            expected.len(),
            got[expected.len()]
        ));
    }
    Ok(())
}

/// How `pieces`, glued together, compare with `count` copies of `message`:
/// `Ok` when they are exactly those bytes, else what is wrong.
pub fn glued_equals_repeated(pieces: &[&str], message: &str, count: usize) -> Result<(), String> {
    let glued: String = pieces.concat();
    let expected = message.repeat(count);
    if glued == expected {
        return Ok(());
    }
    let same = glued
        .bytes()
        .zip(expected.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    Err(format!(
        "the reads add up to {} bytes, expected {} ({count} × {}); they first differ at byte {}",
        glued.len(),
        expected.len(),
        message.len(),
        same + 1
    ))
}

/// Whether each piece could be a slice of `message` repeated: what a
/// server that prints reads shows, even one that loses bytes between reads.
pub fn pieces_of_repeated(pieces: &[&str], message: &str) -> bool {
    if message.is_empty() {
        return pieces.iter().all(|p| p.is_empty());
    }
    pieces.iter().all(|piece| {
        // A slice of the repetition starts somewhere in the first copy and
        // fits in enough copies to cover it.
        let copies = piece.len() / message.len() + 2;
        message.repeat(copies).contains(piece)
    })
}

/// `1 read`, `3 reads`: a count with its noun.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The sizes of the reads a `--trace` shows (`conn 0 <peer>: read 26
/// bytes`), in order; the `read 0 bytes` of a closing peer is not a read of
/// data and is left out.
pub fn traced_reads(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter(|line| line.contains(" µs  conn "))
        .filter_map(|line| number_after(line, ": read "))
        .filter(|&bytes| bytes > 0)
        .collect()
}

/// Whether some `--trace` line contains `what`.
pub fn traced(lines: &[String], what: &str) -> Result<String, String> {
    lines
        .iter()
        .find(|line| line.contains(" µs  ") && line.contains(what))
        .map(|line| line.trim().to_owned())
        .ok_or_else(|| format!("no trace line contains {what:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numbers_are_read_after_their_names_in_summaries() {
        let tcp = "summary: served 1 connections (0 refused), read 2014 bytes, echoed 2014 bytes";
        assert_eq!(number_after(tcp, "served "), Some(1));
        assert_eq!(number_after(tcp, "read "), Some(2014));
        assert_eq!(number_after(tcp, "echoed "), Some(2014));
        let udp = "summary: datagrams=1 bytes=12 dropped=0";
        assert_eq!(number_after(udp, "bytes="), Some(12));
        assert_eq!(number_after(udp, "dropped="), Some(0));
        assert_eq!(number_after(udp, "missing="), None);
        assert_eq!(number_after("read many", "read "), None);
    }

    #[test]
    fn payload_strips_the_go_prefix_and_our_peer_suffix() {
        let prefix = "received client Data sent: ";
        assert_eq!(
            payload(
                "received client Data sent: Hi (there) (from 127.0.0.1:5)",
                prefix
            ),
            Some("Hi (there)")
        );
        assert_eq!(
            payload("received client Data sent: Hi (there)", prefix),
            Some("Hi (there)")
        );
        assert_eq!(payload("received client Data sent: ", prefix), Some(""));
        assert_eq!(payload("listening on 127.0.0.1:1", prefix), None);
        let lines = owned(&[
            "listening on x",
            "received client Data sent: a (from p)",
            "b",
        ]);
        assert_eq!(payloads(&lines, prefix), ["a"]);
    }

    #[test]
    fn received_texts_take_either_go_line() {
        let lines = owned(&[
            "received client Data sent from terminal: a (from p)",
            "received client Data sent: b",
            "legend: x",
        ]);
        assert_eq!(received_texts(&lines), ["a", "b"]);
    }

    #[test]
    fn picture_is_what_follows_reads() {
        assert_eq!(picture("127.0.0.1:5: reads 1|12|2|23"), Some("1|12|2|23"));
        assert_eq!(picture("127.0.0.1:5: 520 bytes in 5 reads of 104"), None);
    }

    #[test]
    fn summary_is_the_last_summary_line() {
        let lines = owned(&[
            "listening on x",
            "summary: one",
            "noise",
            "summary: two",
            "after",
        ]);
        assert_eq!(summary(&lines), Some("summary: two"));
        assert_eq!(summary(&owned(&["none"])), None);
    }

    #[test]
    fn exact_lines_reports_a_split_echo_like_the_go_clients() {
        let long = "x".repeat(2000);
        assert_eq!(exact_lines(&owned(&["hi", &long]), &["hi", &long]), Ok(()));
        // The Go client's single 512-byte read: the long echo printed in parts.
        let split = owned(&["hi", &long[..512], &long[512..1024]]);
        let err = exact_lines(&split, &["hi", &long]).unwrap_err();
        assert!(
            err.contains("line 2 has 512 characters where 2000"),
            "{err}"
        );
        let err = exact_lines(&owned(&["hi"]), &["hi", &long]).unwrap_err();
        assert!(err.contains("line 2 (2000 characters) is missing"), "{err}");
        let err = exact_lines(&owned(&["hi", "extra"]), &["hi"]).unwrap_err();
        assert!(err.contains("extra"), "{err}");
    }

    #[test]
    fn glued_reads_must_be_every_byte_in_order() {
        let message = "Hello, Hello. How are you?";
        let stream = message.repeat(20);
        let reads: Vec<&str> = vec![&stream[..130], &stream[130..338], &stream[338..]];
        assert_eq!(glued_equals_repeated(&reads, message, 20), Ok(()));
        // The Go server's 128-byte defect: what was buffered past 128 is gone.
        let lossy: Vec<&str> = vec![&stream[..128], &stream[300..]];
        let err = glued_equals_repeated(&lossy, message, 20).unwrap_err();
        assert!(err.contains("348 bytes, expected 520"), "{err}");
        assert!(err.contains("differ at byte 129"), "{err}");
    }

    #[test]
    fn pieces_of_a_repeated_message_are_recognised_even_with_gaps() {
        let message = "Hello, Hello. How are you?";
        let stream = message.repeat(20);
        assert!(pieces_of_repeated(
            &[&stream[..128], &stream[300..420]],
            message
        ));
        assert!(pieces_of_repeated(&[&stream[5..9]], message));
        assert!(!pieces_of_repeated(&["Hello, Hello. How are we?"], message));
        assert!(pieces_of_repeated(&[], message));
        assert_eq!(plural(1, "read"), "1 read");
        assert_eq!(plural(20, "message"), "20 messages");
    }
}
