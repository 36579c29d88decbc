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

use harness::{ShowLine, Stream};

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
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: std::io::stdout().is_terminal() && !no_color,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Dimmed, for what frames a program's own lines.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    fn mark(self, passed: bool) -> String {
        if passed {
            self.paint("32", "✓")
        } else {
            self.paint("31", "✗")
        }
    }

    /// Prints `lines` to stdout at once, whole.
    fn print(lines: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(lines.as_bytes());
        let _ = out.flush();
    }

    /// A heading and a few plain lines saying what is about to happen, and why.
    pub fn narrate(self, heading: &str, lines: &[&str]) {
        let mut text = format!("\n{}\n", self.paint("1", &format!("── {heading}")));
        lines
            .iter()
            .for_each(|line| text += &format!("   {line}\n"));
        Style::print(&text);
    }

    /// A command line, as it is about to start: `   label $ command`.
    pub fn command(self, label: &str, shown: &str) {
        println!("   {} {shown}", self.dim(&format!("{label:>14} $")));
    }

    /// How the harness shows a program's lines as they arrive:
    /// `   label │ line`, `label (err)` for stderr.
    pub fn echo_lines(self) -> Arc<ShowLine> {
        Arc::new(move |label: &str, stream: Stream, line: &str| {
            let tag = match stream {
                Stream::Stdout => format!("{label:>14} │"),
                Stream::Stderr => format!("{:>14} │", format!("{label} (err)")),
            };
            Style::print(&format!("   {} {}\n", self.dim(&tag), shown(line)));
        })
    }

    /// The result of one check, as it happens.
    pub fn check_line(self, passed: bool, what: &str, detail: &str) {
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        Style::print(&format!("   {} {what}{detail}\n", self.mark(passed)));
    }
}

/// A line made safe and short enough for the screen: what could drive the
/// terminal or reorder the line escaped by the programs' own rule
/// (`edges::text::is_escaped`: a Go program's output must not drive the
/// terminal either), except the escapes' opener `⟦`, since our programs'
/// lines are escaped already; and a long run of characters without spaces
/// (the demo's 2 000-character line) shown as its two ends and its length,
/// so the words around it stay readable.
pub fn shown(line: &str) -> String {
    let escape = |c: char| c != '⟦' && edges::text::is_escaped(c);
    let safe: String = line
        .chars()
        .map(|c| match c {
            c if escape(c) => edges::Escaped(c.encode_utf8(&mut [0; 4]).as_bytes()).to_string(),
            c => c.to_string(),
        })
        .collect();
    if safe.chars().count() <= SHOWN_LINE_LEN {
        return safe;
    }
    let shorten = |word: &str| {
        let count = word.chars().count();
        if count <= 140 {
            return word.to_owned();
        }
        let head: String = word.chars().take(60).collect();
        let tail: String = word.chars().skip(count - 40).collect();
        format!("{head} … {tail} [{count} characters, shortened here]")
    };
    let words: Vec<String> = safe.split(' ').map(shorten).collect();
    let joined = words.join(" ");
    if joined.chars().count() <= SHOWN_LINE_LEN {
        joined
    } else {
        shorten(&joined)
    }
}

/// A run's length as a reader takes it in: `340 ms` below a second (a UDP
/// step takes a few milliseconds), `12.3 s` above.
pub fn duration(took: std::time::Duration) -> String {
    match took.as_secs_f64() {
        secs if secs < 1.0 => format!("{} ms", took.as_millis()),
        secs => format!("{secs:.1} s"),
    }
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
    let width = |column: fn(&Row) -> &str, least| {
        rows.iter()
            .map(|r| column(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(least)
    };
    let (step_width, check_width) = (width(|r| &r.step, 4), width(|r| &r.check, 5));
    let mut out = format!("{:<step_width$}  {:<check_width$}  ok\n", "step", "check");
    let _ = writeln!(
        out,
        "{}  {}  --",
        "-".repeat(step_width),
        "-".repeat(check_width)
    );
    let mut previous = None;
    for row in rows {
        let step = if previous == Some(&row.step) {
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
    let _ = match failed {
        0 => writeln!(out, "\nall {} checks passed", rows.len()),
        _ => writeln!(out, "\n{failed} of {} checks FAILED", rows.len()),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style { colour: false };

    #[test]
    fn table_names_each_step_once_and_explains_failures() {
        let row = |step: &str, check: &str, passed, detail: &str| Row {
            step: step.into(),
            check: check.into(),
            passed,
            detail: detail.into(),
        };
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
        assert!(lines[2].starts_with("1 TCP echo  short line echoed") && lines[2].ends_with('✓'));
        assert!(
            lines[3].starts_with("            long line")
                && lines[3].contains("✗  got 512 of 2000")
        );
        assert!(lines[4].starts_with("4 UDP echo"), "{text}");
        assert!(text.ends_with("1 of 3 checks FAILED\n"), "{text}");
        assert!(table(&rows[..1], PLAIN).ends_with("all 1 checks passed\n"));
        assert_eq!(Style { colour: true }.mark(false), "\x1b[31m✗\x1b[0m");
    }

    #[test]
    fn a_run_of_milliseconds_says_so() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_millis(6)), "6 ms");
        assert_eq!(duration(Duration::from_millis(12_345)), "12.3 s");
    }

    #[test]
    fn shown_lines_are_escaped_and_a_long_run_shortened_where_it_is() {
        assert_eq!(shown("a\x1b[2Jb\tc"), "a⟦ESC⟧[2Jb\tc");
        // Bidi controls too, and our programs' escapes pass as they are.
        assert_eq!(shown("x\u{202e}y ⟦BEL⟧"), "x⟦U+202E⟧y ⟦BEL⟧");
        assert_eq!(shown("short"), "short");
        let line = format!("received: {} (from 127.0.0.1:40000)", "y".repeat(2000));
        let s = shown(&line);
        assert!(s.starts_with("received: yyy"), "{s}");
        assert!(
            s.ends_with("yyy [2000 characters, shortened here] (from 127.0.0.1:40000)"),
            "{s}"
        );
        assert!(shown(&"word ".repeat(400)).ends_with("[2000 characters, shortened here]"));
    }
}
