//! What every program's `main` does around its own work, so that `main.rs`
//! keeps only the steps of its Go twin: read the command line, send every
//! log record through stderr's queue under the program's name, run, and
//! turn an error into one line on stderr and exit status 1, as Go's
//! `fmt.Println("…failed, err:", err)` is one line (on stdout, exit 0).
//!
//! A command line it cannot use is clap's one line naming the expected
//! form and exit status 2, with one change: an argument of thousands of
//! characters (a `--message` that does not fit in a datagram) is quoted
//! cut, its length said, rather than printed whole before the reason.

use std::ffi::OsString;
use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;

use crate::console::{Console, logger};

/// The most of one argument an error message quotes.
pub const QUOTED_AT_MOST: usize = 60;

/// Runs a program: parses `A` from the command line (or exits 2 saying
/// why), starts the logger under the program's name (`tcp-server`,
/// `stick-demo server2`), calls `run`, and reports its error in one line.
///
/// ```no_run
/// use std::process::ExitCode;
///
/// /// Says hello.
/// #[derive(clap::Parser)]
/// struct Args {}
///
/// fn main() -> ExitCode {
///     edges::program::main(|_: Args| -> Result<(), std::io::Error> { Ok(()) })
/// }
/// ```
pub fn main<A, E>(run: impl FnOnce(A) -> Result<(), E>) -> ExitCode
where
    A: Parser,
    E: Display,
{
    let (args, name) = parse::<A>(std::env::args_os().collect());
    // Kept until `main` returns: dropping it writes out stderr's last lines.
    let _stderr = logger::init(&name);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}`: an `anyhow::Error` with its causes, on one line.
            Console::stderr().line(format_args!("{name}: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// The arguments, and the name the program goes by: the command's, and
/// its subcommand's if it has one. Exits on `--help`, `--version` and
/// misuse, as clap does.
fn parse<A: Parser>(argv: Vec<OsString>) -> (A, String) {
    let mut command = A::command();
    let exit = |err: clap::Error| -> ! { exit_quoting_cut(err, &argv) };
    let mut matches = command
        .try_get_matches_from_mut(argv.iter())
        .unwrap_or_else(|e| exit(e));
    let name = match matches.subcommand_name() {
        Some(sub) => format!("{} {sub}", command.get_name()),
        None => command.get_name().to_owned(),
    };
    let args =
        A::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| exit(e.format(&mut command)));
    (args, name)
}

/// Prints `err` as clap does and exits with its status, but with every
/// argument longer than [`QUOTED_AT_MOST`] cut where the message quotes it.
fn exit_quoting_cut(err: clap::Error, argv: &[OsString]) -> ! {
    if !err.use_stderr() {
        err.exit(); // --help, --version: not an error
    }
    let rendered = err.render().to_string();
    let cut = cut_long_arguments(&rendered, argv);
    if cut == rendered {
        err.exit(); // as clap prints it, colours included
    }
    eprint!("{cut}");
    std::process::exit(err.exit_code())
}

/// `message` with each long argument of `argv` (or the value of a
/// `--flag=value`) cut to its first [`QUOTED_AT_MOST`] characters and a
/// count of the rest.
fn cut_long_arguments(message: &str, argv: &[OsString]) -> String {
    let mut message = message.to_owned();
    for arg in argv.iter().skip(1) {
        let arg = arg.to_string_lossy();
        let value = arg
            .strip_prefix("--")
            .and_then(|flag| flag.split_once('='))
            .map_or(&*arg, |(_, value)| value);
        for quoted in [&*arg, value] {
            let chars = quoted.chars().count();
            if chars > QUOTED_AT_MOST && message.contains(quoted) {
                let kept: String = quoted.chars().take(QUOTED_AT_MOST).collect();
                let short = format!("{kept}… ({} characters more)", chars - QUOTED_AT_MOST);
                message = message.replace(quoted, &short);
            }
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_argument_is_quoted_cut_and_the_reason_kept() {
        let huge = "x".repeat(70_000);
        let message = format!(
            "error: invalid value '{huge}' for '--message <MESSAGE>': 70000 bytes do not fit\n"
        );
        let argv: Vec<OsString> = ["udp-client", "--message", &huge]
            .iter()
            .map(OsString::from)
            .collect();
        let cut = cut_long_arguments(&message, &argv);
        assert_eq!(
            cut,
            format!(
                "error: invalid value '{}… (69940 characters more)' for '--message <MESSAGE>': \
                 70000 bytes do not fit\n",
                "x".repeat(60)
            )
        );
        // The value of `--flag=value` too; short arguments are left alone.
        let argv: Vec<OsString> = ["p", &format!("--message={huge}"), "--count", "x"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(cut_long_arguments(&message, &argv), cut);
        assert_eq!(
            cut_long_arguments("'x' is no count", &argv),
            "'x' is no count"
        );
    }
}
