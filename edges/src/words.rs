//! How every program says a count in its lines and summaries: `1 read`,
//! `2 reads`, never `1 reads` or `read(s)`.

/// `1 read`, `2 reads`.
///
/// ```
/// assert_eq!(edges::words::plural(1, "connection"), "1 connection");
/// assert_eq!(edges::words::plural(0, "byte"), "0 bytes");
/// ```
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
