//! Where did the reads end? A one-line picture of one connection's reads
//! against the messages the client wrote, so the sticking can be *seen*.
//!
//! The raw server cannot know where the client's messages begin and end
//! (that is the whole problem); it is told their length (`--message-len`,
//! 26 bytes for `Hello, Hello. How are you?`) only to draw this picture.
//!
//! ```text
//! reads 130, 208, 52, 78, 52 bytes of 26-byte messages:
//!
//!     12345|67890123|45|678|90
//!     ^^^^^ five messages stuck together in the first read
//!
//! reads of 16 bytes:
//!
//!     1|12|2|23|34|4|4...
//!     ^^^ message 1 split across two reads
//! ```
//!
//! Each digit is one message (numbered 1, 2, … 9, 0, 1, …, so neighbours
//! always differ), and `|` is where one read ended and the next began. The
//! picture is bounded in width, and [`ReadLog`] keeps bounded state however
//! long the stream is: a peer that sends for ever costs a fixed amount of
//! memory.

use std::fmt::{self, Write};

use edges::words::plural;

/// The widest picture drawn, in characters (a note about what was left out
/// follows it). Wide enough for the chapter's 20 messages read 16 bytes at
/// a time (at most 20 digits + 34 boundaries × 2), narrow enough for a
/// terminal line.
pub const PICTURE_WIDTH: usize = 96;

/// How many distinct runs of read sizes a summary lists; the rest is counted.
const MAX_SIZE_RUNS: usize = 12;

/// The widest line of the [`legend`], in characters: it fits a terminal
/// beside the demo's 20-character program labels.
pub const LEGEND_WIDTH: usize = 72;

/// Printed once, before the first summary, so the pictures need no key:
/// several lines, the first starting `legend: `, the rest indented under it.
pub fn legend(message_len: u64) -> String {
    const HEAD: &str = "legend: ";
    let text = format!(
        "in `reads` pictures each digit is one {message_len}-byte message, numbered \
         1 2 … 9 0 1 …; `|` is where one read ended and the next began. Several digits \
         between two `|` = messages stuck together in one read; the same digit on both \
         sides of a `|` (like 3|3) = one message split across reads."
    );
    let indent = " ".repeat(HEAD.len());
    let mut out = String::from(HEAD);
    let mut width = HEAD.len();
    for (i, word) in text.split(' ').enumerate() {
        let len = word.chars().count();
        if i > 0 && width + 1 + len > LEGEND_WIDTH {
            out.push('\n');
            out.push_str(&indent);
            width = indent.len();
        } else if i > 0 {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += len;
    }
    out
}

/// Draws read boundaries against `message_len`-byte messages, at most
/// `max_width` characters plus a note saying where the drawing stopped.
///
/// `boundaries` are the stream offsets where one read ended and the next
/// began, increasing, each strictly between 0 and `total`. A trailing
/// partial message is drawn like a whole one; the summary says it is partial.
///
/// ```
/// use stick_demo::boundaries::picture;
/// // The Go tutorial's run: reads of 130, 208, 52, 78 and 52 bytes.
/// assert_eq!(picture(&[130, 338, 390, 468], 520, 26, 72), "12345|67890123|45|678|90");
/// ```
pub fn picture(boundaries: &[u64], total: u64, message_len: u64, max_width: usize) -> String {
    let message_len = message_len.max(1);
    let messages = total.div_ceil(message_len);
    let mut out = String::new();
    let mut width = 0;
    let mut next = boundaries.iter().copied().peekable();
    // Appends one character, or reports that the width is used up.
    let mut put = |out: &mut String, c: char| {
        if width == max_width {
            return false;
        }
        out.push(c);
        width += 1;
        true
    };
    for index in 0..messages {
        let number = index + 1;
        let digit = char::from(b'0' + (number % 10) as u8);
        let start = index * message_len;
        let end = (start + message_len).min(total);
        // Boundaries before this message cannot exist in valid input;
        // skip them rather than draw nonsense.
        while next.next_if(|&b| b <= start).is_some() {}
        let mut fits = put(&mut out, digit);
        // Each boundary inside the message splits it: the digit again after it.
        while fits && next.next_if(|&b| b < end).is_some() {
            fits = put(&mut out, '|') && put(&mut out, digit);
        }
        if fits && end < total && next.next_if_eq(&end).is_some() {
            fits = put(&mut out, '|');
        }
        if !fits {
            let _ = write!(out, " … (picture stops in message {number} of {messages})");
            return out;
        }
    }
    out
}

/// What one connection's reads looked like, in bounded memory.
#[derive(Debug, Clone, Default)]
pub struct ReadLog {
    total: u64,
    reads: u64,
    /// Read sizes as (size, how many in a row); only the first runs are kept.
    size_runs: Vec<(usize, u64)>,
    /// Reads described by `size_runs`.
    reads_in_runs: u64,
    /// The first boundaries only: each one costs at least one character of
    /// the picture, so more than its width could never be drawn.
    boundaries: Vec<u64>,
}

impl ReadLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one read of `n` bytes (n > 0).
    pub fn record(&mut self, n: usize) {
        if self.reads > 0 && self.boundaries.len() < PICTURE_WIDTH {
            self.boundaries.push(self.total);
        }
        self.total += n as u64;
        self.reads += 1;
        // Runs are kept only while every read so far is in them, so the
        // list is always a true prefix of the stream's reads.
        if self.reads_in_runs + 1 != self.reads {
            return;
        }
        let runs = self.size_runs.len();
        match self.size_runs.last_mut() {
            Some((size, count)) if *size == n => *count += 1,
            _ if runs < MAX_SIZE_RUNS => self.size_runs.push((n, 1)),
            _ => return,
        }
        self.reads_in_runs += 1;
    }

    /// Bytes read so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Reads so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The read sizes, runs compressed: `130, 208, 52` or `16 ×32, 8`.
    pub fn sizes(&self) -> ReadSizes<'_> {
        ReadSizes(self)
    }

    /// The boundary picture against `message_len`-byte messages.
    pub fn picture(&self, message_len: u64) -> String {
        picture(&self.boundaries, self.total, message_len, PICTURE_WIDTH)
    }

    /// One line: how many bytes, how they divide into messages, in how many
    /// reads of which sizes.
    pub fn summary(&self, message_len: u64) -> String {
        let message_len = message_len.max(1);
        let whole = self.total / message_len;
        let rest = self.total % message_len;
        let mut line = format!(
            "{} = {} of {message_len} bytes",
            plural(self.total, "byte"),
            plural(whole, "message")
        );
        if rest > 0 {
            let _ = write!(line, " + {rest} bytes of a message");
        }
        let _ = write!(line, ", in {}", plural(self.reads, "read"));
        if self.reads > 0 {
            let _ = write!(line, " of {} bytes", self.sizes());
        }
        line
    }
}

/// Display of [`ReadLog::sizes`].
pub struct ReadSizes<'a>(&'a ReadLog);

impl fmt::Display for ReadSizes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(size, count)) in self.0.size_runs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match count {
                1 => write!(f, "{size}")?,
                _ => write!(f, "{size} ×{count}")?,
            }
        }
        let untold = self.0.reads - self.0.reads_in_runs;
        if untold > 0 {
            let reads = if untold == 1 { "read" } else { "reads" };
            write!(f, ", … ({untold} more {reads})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_is_wrapped_to_fit_a_terminal_and_loses_no_word() {
        let text = legend(26);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 1, "{text}");
        assert!(
            lines[0].starts_with("legend: in `reads` pictures"),
            "{text}"
        );
        for line in &lines {
            assert!(line.chars().count() <= LEGEND_WIDTH, "too wide: {line:?}");
        }
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("        ") && !l.starts_with("         "))
        );
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(
            words.join(" "),
            "legend: in `reads` pictures each digit is one 26-byte message, numbered 1 2 … 9 0 \
             1 …; `|` is where one read ended and the next began. Several digits between two \
             `|` = messages stuck together in one read; the same digit on both sides of a `|` \
             (like 3|3) = one message split across reads."
        );
    }

    /// Boundaries of reads of the given sizes.
    fn boundaries_of(sizes: &[u64]) -> (Vec<u64>, u64) {
        let mut total = 0;
        let mut boundaries = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            if i > 0 {
                boundaries.push(total);
            }
            total += size;
        }
        (boundaries, total)
    }

    fn draw(sizes: &[u64]) -> String {
        let (boundaries, total) = boundaries_of(sizes);
        picture(&boundaries, total, 26, PICTURE_WIDTH)
    }

    #[test]
    fn one_read_of_everything_is_one_unbroken_run_of_digits() {
        assert_eq!(draw(&[520]), "12345678901234567890");
    }

    #[test]
    fn go_tutorial_run_shows_messages_stuck_together() {
        assert_eq!(draw(&[130, 208, 52, 78, 52]), "12345|67890123|45|678|90");
    }

    #[test]
    fn chapter_run_with_16_byte_reads_fits_the_width() {
        let drawn = draw(&[[16; 32].as_slice(), &[8]].concat());
        // Reads end at 16, 32, …, 512: inside most messages, and exactly at
        // the end of messages 8 (208) and 16 (416).
        assert_eq!(
            drawn,
            "1|12|2|23|34|4|45|5|56|67|7|78|8|9|90|0|01|12|2|23|3|34|45|5|56|6|7|78|8|89|90|0|0"
        );
    }

    #[test]
    fn one_message_per_read_puts_a_bar_between_every_digit() {
        assert_eq!(draw(&[26; 5]), "1|2|3|4|5");
    }

    #[test]
    fn small_reads_show_each_message_split() {
        // Boundaries at 16, 32, 48, 64, 80, 96: inside messages 1, 2, 2, 3, 4, 4.
        assert_eq!(draw(&[16; 7]), "1|12|2|23|34|4|45");
    }

    #[test]
    fn read_ending_inside_a_message_repeats_its_digit() {
        // 30 bytes then 22: message 2 starts in read 1 and ends in read 2.
        assert_eq!(draw(&[30, 22]), "12|2");
    }

    #[test]
    fn trailing_partial_message_is_drawn() {
        assert_eq!(draw(&[30]), "12");
        assert_eq!(draw(&[26, 4]), "1|2");
    }

    #[test]
    fn messages_are_numbered_modulo_ten_so_neighbours_differ() {
        let drawn = draw(&[26 * 12]);
        assert_eq!(drawn, "123456789012");
    }

    #[test]
    fn empty_stream_draws_nothing() {
        assert_eq!(picture(&[], 0, 26, PICTURE_WIDTH), "");
    }

    #[test]
    fn long_stream_is_cut_at_the_width_with_a_note() {
        let drawn = draw(&[26 * 1000]);
        let (digits, note) = drawn.split_at(PICTURE_WIDTH);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{drawn}");
        assert_eq!(note, " … (picture stops in message 97 of 1000)");
    }

    #[test]
    fn one_byte_reads_are_cut_inside_the_first_message() {
        let drawn = draw(&[1; 52]);
        assert!(drawn.starts_with("1|1|1|"), "{drawn}");
        assert!(
            drawn.ends_with(" … (picture stops in message 2 of 2)"),
            "{drawn}"
        );
        assert!(drawn.chars().count() <= PICTURE_WIDTH + 40, "{drawn}");
    }

    #[test]
    fn read_log_summarises_sizes_and_messages() {
        let mut log = ReadLog::new();
        for size in [130, 208, 52, 78, 52] {
            log.record(size);
        }
        assert_eq!(log.total(), 520);
        assert_eq!(log.reads(), 5);
        assert_eq!(
            log.summary(26),
            "520 bytes = 20 messages of 26 bytes, in 5 reads of 130, 208, 52, 78, 52 bytes"
        );
        assert_eq!(log.picture(26), "12345|67890123|45|678|90");
    }

    #[test]
    fn read_log_compresses_runs_of_equal_sizes() {
        let mut log = ReadLog::new();
        for _ in 0..32 {
            log.record(16);
        }
        log.record(8);
        assert_eq!(log.sizes().to_string(), "16 ×32, 8");
        assert_eq!(
            log.summary(26),
            "520 bytes = 20 messages of 26 bytes, in 33 reads of 16 ×32, 8 bytes"
        );
    }

    #[test]
    fn read_log_stays_bounded_for_endless_streams() {
        let mut log = ReadLog::new();
        for i in 0..100_000 {
            log.record(1 + i % 3);
        }
        assert_eq!(log.reads(), 100_000);
        assert!(log.size_runs.len() <= MAX_SIZE_RUNS);
        assert!(log.boundaries.len() <= PICTURE_WIDTH);
        assert!(
            log.sizes().to_string().ends_with(", … (99988 more reads)"),
            "{}",
            log.sizes()
        );
        assert!(log.picture(26).contains("picture stops"));
    }

    #[test]
    fn read_log_reports_a_partial_message() {
        let mut log = ReadLog::new();
        log.record(30);
        assert_eq!(
            log.summary(26),
            "30 bytes = 1 message of 26 bytes + 4 bytes of a message, in 1 read of 30 bytes"
        );
    }
}
