//! How the demo talks: narration before each step, the programs' own lines
//! with their names in front, and the closing table of checks.
//!
//! Colour is used only when stdout is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>): in a CI log or a pipe, escape codes are noise.

use std::{
    fmt::Write as _,
    io::{IsTerminal as _, Write as _},
    sync::Arc,
};

use harness::{EchoLines, Stream};

/// Lines longer than this are shortened on screen (the checks always see
/// the whole line).
const SHOWN_LINE_LEN: usize = 640;

/// Whether to colour, decided once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour if stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Style {
        Style {
            colour: use_colour(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn mark(self, passed: bool) -> String {
        if passed {
            self.paint("32", "✓")
        } else {
            self.paint("31", "✗")
        }
    }

    /// A heading and a few plain lines saying what is about to happen, and why.
    pub fn narrate(self, heading: &str, lines: &[&str]) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\n{}", self.bold(&format!("── {heading}")));
        for line in lines {
            let _ = writeln!(out, "   {line}");
        }
        let _ = out.flush();
    }

    /// How the harness shows a program's lines as they arrive: each with
    /// [`Style::program_line`].
    pub fn echo_lines(self) -> EchoLines {
        EchoLines::Each(Arc::new(move |label: &str, stream: Stream, line: &str| {
            self.program_line(label, stream, line)
        }))
    }

    /// One line a program printed, shown as `   label │ line`.
    pub fn program_line(self, label: &str, stream: Stream, line: &str) {
        let tag = match stream {
            Stream::Stdout => format!("{label:>14} │"),
            Stream::Stderr => format!("{:>14} │", format!("{label} (err)")),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "   {} {}", self.dim(&tag), shown(line));
        let _ = out.flush();
    }

    /// The result of one check, as it happens.
    pub fn check_line(self, passed: bool, what: &str, detail: &str) {
        let mut out = std::io::stdout().lock();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        let _ = writeln!(out, "   {} {what}{detail}", self.mark(passed));
        let _ = out.flush();
    }
}

/// The `NO_COLOR` convention: present and non-empty means no colour.
pub fn use_colour(stdout_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stdout_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// A line made safe and short enough for the screen: control characters
/// other than tab escaped (our programs escape what they print already; a
/// Go program's output must not drive the terminal either), and a long line
/// shortened.
///
/// A teaching line is `<Go prefix><text> (from <peer>)`, and the text a
/// demo sends long is one run without spaces: that run is what is
/// shortened, to its two ends and its own length, so a 2 000-character line
/// is said to be 2 000 characters, with the prefix and peer still readable.
/// A line that is long some other way is shortened as a whole.
pub fn shown(line: &str) -> String {
    let safe: String = line
        .chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() && c != '\t' {
                Box::new(c.escape_debug())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect();
    let count = safe.chars().count();
    if count <= SHOWN_LINE_LEN {
        return safe;
    }
    let mut longest = (0, "");
    let mut offset = 0;
    for word in safe.split(' ') {
        if word.chars().count() > longest.1.chars().count() {
            longest = (offset, word);
        }
        offset += word.len() + 1;
    }
    let (at, word) = longest;
    let word_count = word.chars().count();
    if count - word_count + SHORTENED_LEN <= SHOWN_LINE_LEN {
        let (before, after) = (&safe[..at], &safe[at + word.len()..]);
        return format!("{before}{}{after}", shortened(word, word_count));
    }
    shortened(&safe, count)
}

/// Room a [`shortened`] run takes, at most.
const SHORTENED_LEN: usize = 140;

/// `text`, of `count` characters, as its two ends and its length.
fn shortened(text: &str, count: usize) -> String {
    let head: String = text.chars().take(60).collect();
    let tail: String = text.chars().skip(count - 40).collect();
    format!("{head} … {tail} [{count} characters, shortened here]")
}

/// One check of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub step: String,
    pub check: String,
    pub passed: bool,
    /// What was seen, when it matters (always for a failure).
    pub detail: String,
}

/// The closing table: one line per check, the step named on its first check.
pub fn table(rows: &[Row], style: Style) -> String {
    let step_width = rows
        .iter()
        .map(|r| r.step.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let check_width = rows
        .iter()
        .map(|r| r.check.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<step_width$}  {:<check_width$}  ok",
        "step", "check"
    );
    let _ = writeln!(
        out,
        "{}  {}  --",
        "-".repeat(step_width),
        "-".repeat(check_width)
    );
    let mut previous: Option<&str> = None;
    for row in rows {
        let step = if previous == Some(row.step.as_str()) {
            ""
        } else {
            row.step.as_str()
        };
        previous = Some(&row.step);
        let _ = write!(
            out,
            "{step:<step_width$}  {:<check_width$}  {}",
            row.check,
            style.mark(row.passed)
        );
        if !row.passed && !row.detail.is_empty() {
            let _ = write!(out, "  {}", shown(&row.detail));
        }
        out.push('\n');
    }
    let failed = rows.iter().filter(|r| !r.passed).count();
    let _ = if failed == 0 {
        writeln!(out, "\nall {} checks passed", rows.len())
    } else {
        writeln!(out, "\n{failed} of {} checks FAILED", rows.len())
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    const PLAIN: Style = Style { colour: false };

    fn row(step: &str, check: &str, passed: bool, detail: &str) -> Row {
        Row {
            step: step.into(),
            check: check.into(),
            passed,
            detail: detail.into(),
        }
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(
            use_colour(true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert_eq!(PLAIN.mark(true), "✓");
        assert_eq!(Style { colour: true }.mark(false), "\x1b[31m✗\x1b[0m");
    }

    #[test]
    fn table_names_each_step_once_and_explains_failures() {
        let rows = [
            row("1 TCP echo", "short line echoed", true, "seen: hi"),
            row(
                "1 TCP echo",
                "long line echoed whole",
                false,
                "got 512 of 2000",
            ),
            row("4 UDP echo", "reply printed", true, ""),
        ];
        let text = table(&rows, PLAIN);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["step", "check", "ok"]
        );
        assert!(
            lines[2].starts_with("1 TCP echo  short line echoed"),
            "{text}"
        );
        assert!(
            lines[2].ends_with('✓') && !lines[2].contains("seen"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("            long line echoed whole"),
            "{text}"
        );
        assert!(lines[3].contains("✗  got 512 of 2000"), "{text}");
        assert!(lines[4].starts_with("4 UDP echo"), "{text}");
        assert!(text.ends_with("1 of 3 checks FAILED\n"), "{text}");
        let passed = table(&rows[..1], PLAIN);
        assert!(passed.ends_with("all 1 checks passed\n"), "{passed}");
    }

    #[test]
    fn shown_lines_are_escaped_and_long_ones_shortened() {
        assert_eq!(shown("a\x1b[2Jb\tc"), "a\\u{1b}[2Jb\tc");
        let long = "x".repeat(2000);
        let s = shown(&long);
        assert!(s.len() < 200, "{s}");
        assert!(s.ends_with("[2000 characters, shortened here]"), "{s}");
        assert_eq!(shown("short"), "short");
        let words = "word ".repeat(400);
        assert!(shown(&words).ends_with("[2000 characters, shortened here]"));
    }

    #[test]
    fn a_long_teaching_line_is_counted_by_its_text_not_its_prefix() {
        let line = format!(
            "received client Data sent from terminal: {} (from 127.0.0.1:40000)",
            "y".repeat(2000)
        );
        let s = shown(&line);
        assert!(
            s.starts_with("received client Data sent from terminal: yyy"),
            "{s}"
        );
        assert!(
            s.ends_with("yyy [2000 characters, shortened here] (from 127.0.0.1:40000)"),
            "{s}"
        );
        assert!(!s.contains("2064"), "{s}");
    }
}
