//! Durations and counts on the command line, each read one way in every
//! program, each mistake answered with the form expected.
//!
//! A duration a user chooses is in seconds, fractions allowed
//! (`--timeout 0.5`, `--idle-timeout 0.5`); a flag whose name carries a
//! smaller unit (`--spin-us`, `--delay-ms`) takes a whole number of it.
//! Every value a parser here accepts works: a timeout of centuries is cut
//! to a century by [`deadline_after`] rather than overflow the clock.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Reads a timeout: more than 0 seconds, fractions allowed.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(edges::cli::seconds("0.5"), Ok(Duration::from_millis(500)));
/// assert!(edges::cli::seconds("0").is_err());
/// assert!(edges::cli::seconds("1e19").is_ok());
/// ```
pub fn seconds(text: &str) -> Result<Duration, String> {
    parse_seconds(text, "more than 0 seconds", |secs| secs > 0.0)
}

/// Reads a wait that may be none: 0 seconds or more, fractions allowed.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(edges::cli::seconds_or_zero("0"), Ok(Duration::ZERO));
/// assert!(edges::cli::seconds_or_zero("-1").is_err());
/// ```
pub fn seconds_or_zero(text: &str) -> Result<Duration, String> {
    parse_seconds(text, "0 seconds or more", |secs| secs >= 0.0)
}

/// Seconds that `allowed` accepts (`what` says which, in the message), as
/// a `Duration`.
fn parse_seconds(text: &str, what: &str, allowed: fn(f64) -> bool) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| "expected seconds, e.g. 2 or 0.5".to_owned())?;
    // NaN compares false with everything: `allowed` refuses it too.
    if !allowed(secs) {
        return Err(format!("expected {what}, e.g. 2 or 0.5"));
    }
    match Duration::try_from_secs_f64(secs) {
        // Beyond what a `Duration` holds (2^64 s), infinity included.
        Err(_) => Err("expected at most 1.8e19 seconds, e.g. 2 or 0.5".to_owned()),
        // Rounded to nothing: a nanosecond is the clock's grain.
        Ok(Duration::ZERO) if secs > 0.0 => {
            Err("expected at least 1e-9 seconds (a nanosecond), e.g. 2 or 0.5".to_owned())
        }
        Ok(duration) => Ok(duration),
    }
}

/// A parser of whole numbers of `unit` in `range`, whose every mistake
/// names the form: `expected a whole number of milliseconds, e.g. 5`.
///
/// ```
/// let delay_ms = edges::cli::whole("milliseconds", "5", 0..=u64::MAX);
/// assert_eq!(delay_ms("5"), Ok(5));
/// assert_eq!(delay_ms("0.5").unwrap_err(), "expected a whole number of milliseconds, e.g. 5");
/// let threads = edges::cli::whole("threads", "2", 1..=usize::MAX);
/// assert!(threads("0").unwrap_err().starts_with("expected at least 1 thread"));
/// ```
pub fn whole<T>(
    unit: &'static str,
    example: &'static str,
    range: RangeInclusive<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    let (min, max) = range.into_inner();
    move |text: &str| {
        let bounds = || {
            if max_is_the_types(max) {
                // `1 thread`, `1 round trip`: the unit's last word singular.
                let unit = match min.to_string().as_str() {
                    "1" => unit.strip_suffix('s').unwrap_or(unit),
                    _ => unit,
                };
                format!("expected at least {min} {unit}, e.g. {example}")
            } else {
                format!("expected {min} to {max} {unit}, e.g. {example}")
            }
        };
        match text.parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(n),
            Ok(_) => Err(bounds()),
            // Digits only, yet no number of the type: 0 for a type that
            // has none (`NonZeroUsize`), else too large for it.
            Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                let zero = text.bytes().all(|b| b == b'0');
                Err(match max_is_the_types(max) && !zero {
                    true => format!("expected at most {max} {unit}, e.g. {example}"),
                    false => bounds(),
                })
            }
            Err(_) => Err(format!("expected a whole number of {unit}, e.g. {example}")),
        }
    }
}

/// Whether `max` is as large as its type goes (`u64::MAX`, `usize::MAX`):
/// then it is no limit a user needs to read.
fn max_is_the_types<T: Display>(max: T) -> bool {
    let digits = max.to_string();
    [
        u64::MAX.to_string(),
        u32::MAX.to_string(),
        usize::MAX.to_string(),
    ]
    .contains(&digits)
}

/// The instant `timeout` from now. A timeout of centuries, which
/// [`seconds`] accepts, would overflow `Instant` (a panic); it is cut to
/// one hundred years, which no program here will wait out.
pub fn deadline_after(timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    Instant::now() + timeout.min(CENTURY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroUsize;

    #[test]
    fn every_accepted_timeout_gives_a_deadline_without_overflow() {
        for text in ["1e-9", "0.5", "3", "1e19", "18446744073709549568"] {
            let timeout = seconds(text).unwrap();
            let before = Instant::now();
            assert!(deadline_after(timeout) >= before, "{text}");
        }
        for bad in [
            "0",
            "-1",
            "NaN",
            "inf",
            "18446744073709551616",
            "soon",
            "",
            "1e-10",
        ] {
            let err = seconds(bad).unwrap_err();
            assert!(err.contains("e.g. 2 or 0.5"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_wait_may_be_zero_but_not_negative() {
        assert_eq!(seconds_or_zero("0"), Ok(Duration::ZERO));
        assert_eq!(seconds_or_zero("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["-0.5", "NaN", "never"] {
            assert!(
                seconds_or_zero(bad).unwrap_err().contains("e.g. 2 or 0.5"),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_whole_number_mistake_names_the_form() {
        let spin = whole("microseconds", "50", 0..=1_000_000_u64);
        assert_eq!(spin("0"), Ok(0));
        assert_eq!(spin("1000000"), Ok(1_000_000));
        for bad in ["1000001", "99999999999999999999999"] {
            assert_eq!(
                spin(bad).unwrap_err(),
                "expected 0 to 1000000 microseconds, e.g. 50",
                "{bad}"
            );
        }
        for bad in ["0.5", "-1", "fast", ""] {
            assert_eq!(
                spin(bad).unwrap_err(),
                "expected a whole number of microseconds, e.g. 50",
                "{bad}"
            );
        }
        let threads = whole("threads", "2", NonZeroUsize::MIN..=NonZeroUsize::MAX);
        assert_eq!(
            threads("0").unwrap_err(),
            "expected at least 1 thread, e.g. 2"
        );
        let count = whole("round trips", "3", 1..=u64::MAX);
        assert_eq!(
            count("0").unwrap_err(),
            "expected at least 1 round trip, e.g. 3"
        );
        assert_eq!(
            count("18446744073709551616").unwrap_err(),
            "expected at most 18446744073709551615 round trips, e.g. 3"
        );
    }
}
