//! Reading the programs' output: the pure part of every check of the demo
//! and of `compare`, each rule unit-tested without starting a program.
//!
//! The programs' lines are a contract (the Go programs' own `fmt.Println`
//! text, plus `listening on <addr>` and a `summary:` line), so the checks
//! parse exactly those lines and say what they saw when they fail.

/// The number right after `key` in `line`: `number_after("read 520 bytes",
/// "read ")` is 520. Used on summary lines, which name each figure.
pub fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
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

/// The texts of every read a raw (unframed) server printed, in order: with
/// `tcp/server`'s line, which the chapter's "unchanged" server also prints,
/// or with the chapter's own sample output's (server2's, for a message).
pub fn received_texts(lines: &[String]) -> Vec<&str> {
    let prefixes = [
        "received client Data sent from terminal: ",
        "received client Data sent: ",
    ];
    lines
        .iter()
        .filter_map(|l| prefixes.iter().find_map(|p| payload(l, p)))
        .collect()
}

/// The picture in the raw server's `<peer>: reads 1234|56…` line, which
/// shows where its reads ended among the messages.
pub fn picture(line: &str) -> Option<&str> {
    Some(line.split_once(": reads ")?.1.trim())
}

/// The last `summary: …` line, which servers print when they stop.
pub fn summary(lines: &[String]) -> Option<&str> {
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("summary:"))
        .map(String::as_str)
}

/// Where `got` and `want` first differ, counted from 1.
fn first_difference(got: &str, want: &str) -> usize {
    got.bytes()
        .zip(want.bytes())
        .take_while(|(a, b)| a == b)
        .count()
        + 1
}

/// `got` must be exactly the `expected` lines; the error says where and how
/// they differ (with lengths, since the lines can be 2 000 characters).
pub fn exact_lines(got: &[String], expected: &[&str]) -> Result<(), String> {
    for (i, want) in expected.iter().enumerate() {
        match got.get(i) {
            None => {
                let (n, wanted) = (got.len(), expected.len());
                return Err(format!(
                    "printed {n} line(s), expected {wanted}; line {} ({} characters) is missing",
                    i + 1,
                    want.len()
                ));
            }
            Some(line) if line != want => {
                return Err(format!(
                    "line {} has {} characters where {} were expected, first difference at \
                     character {}",
                    i + 1,
                    line.len(),
                    want.len(),
                    first_difference(line, want)
                ));
            }
            Some(_) => {}
        }
    }
    match got.get(expected.len()) {
        Some(extra) => Err(format!(
            "printed {} lines, expected {}; extra: {extra:?}",
            got.len(),
            expected.len()
        )),
        None => Ok(()),
    }
}

/// Whether `pieces`, glued together, are exactly `count` copies of
/// `message`; if not, what is wrong.
pub fn glued_equals_repeated(pieces: &[&str], message: &str, count: usize) -> Result<(), String> {
    let (glued, expected) = (pieces.concat(), message.repeat(count));
    if glued == expected {
        return Ok(());
    }
    Err(format!(
        "the reads add up to {} bytes, expected {} ({count} × {}); they first differ at byte {}",
        glued.len(),
        expected.len(),
        message.len(),
        first_difference(&glued, &expected)
    ))
}

/// Whether each piece could be a slice of `message` repeated: what a
/// server that prints reads shows, even one that loses bytes between reads.
pub fn pieces_of_repeated(pieces: &[&str], message: &str) -> bool {
    // A slice of the repetition starts in the first copy and fits in
    // enough copies to cover it.
    let fits = |piece: &&str| {
        message
            .repeat(piece.len() / message.len().max(1) + 2)
            .contains(piece)
    };
    pieces.iter().all(fits)
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
/// bytes`), in order; the `read 0 bytes` of a closing peer is left out.
pub fn traced_reads(lines: &[String]) -> Vec<u64> {
    let traced = lines.iter().filter(|line| line.contains(" µs  conn "));
    traced
        .filter_map(|line| number_after(line, ": read "))
        .filter(|&bytes| bytes > 0)
        .collect()
}

/// The first `--trace` line that contains `what`.
pub fn traced(lines: &[String], what: &str) -> Result<String, String> {
    let found = lines
        .iter()
        .find(|line| line.contains(" µs  ") && line.contains(what));
    found
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
    fn summaries_and_teaching_lines_are_read_as_printed() {
        let tcp = "summary: served 1 connection (0 refused), read 2014 bytes, echoed 2014 bytes";
        assert_eq!(
            (number_after(tcp, "read "), number_after(tcp, "echoed ")),
            (Some(2014), Some(2014))
        );
        assert_eq!(
            number_after("summary: served 1 datagram (0 dropped)", "served "),
            Some(1)
        );
        assert_eq!(number_after("read many", "read "), None);
        let prefix = "received client Data sent: ";
        let ours = "received client Data sent: Hi (there) (from 127.0.0.1:5)";
        assert_eq!(payload(ours, prefix), Some("Hi (there)"));
        assert_eq!(
            payload("received client Data sent: Hi (there)", prefix),
            Some("Hi (there)")
        );
        let lines = owned(&[
            "listening on x",
            "received client Data sent from terminal: a (from p)",
            "received client Data sent: b",
            "summary: one",
            "127.0.0.1:5: reads 1|12|2",
            "summary: two",
        ]);
        assert_eq!(received_texts(&lines), ["a", "b"]);
        assert_eq!(payloads(&lines, prefix), ["b"]);
        assert_eq!(summary(&lines), Some("summary: two"));
        assert_eq!(picture(&lines[4]), Some("1|12|2"));
        assert_eq!(plural(1, "read"), "1 read");
        assert_eq!(plural(20, "message"), "20 messages");
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
        assert!(
            exact_lines(&owned(&["hi", "extra"]), &["hi"])
                .unwrap_err()
                .contains("extra")
        );
    }

    #[test]
    fn glued_reads_must_be_every_byte_in_order_and_pieces_are_recognised() {
        let message = "Hello, Hello. How are you?";
        let stream = message.repeat(20);
        let reads: Vec<&str> = vec![&stream[..130], &stream[130..338], &stream[338..]];
        assert_eq!(glued_equals_repeated(&reads, message, 20), Ok(()));
        // The Go server's 128-byte defect: what was buffered past 128 is gone.
        let lossy: Vec<&str> = vec![&stream[..128], &stream[300..]];
        let err = glued_equals_repeated(&lossy, message, 20).unwrap_err();
        assert!(
            err.contains("348 bytes, expected 520") && err.contains("differ at byte 129"),
            "{err}"
        );
        assert!(pieces_of_repeated(&lossy, message));
        assert!(!pieces_of_repeated(&["Hello, Hello. How are we?"], message));
    }
}
