//! What the two line baselines share: reading a line without ever
//! buffering more than the protocol's limit.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// The longest line accepted, without its newline.
pub const MAX_LINE: usize = 64 * 1024;

/// The answer to a longer one, after which the connection closes.
pub const TOO_LONG: &str = "error: line longer than 65536 bytes";

/// Reads the next line into `line`, without its `\n` and a `\r` before
/// it: `Some(true)` a line, `Some(false)` one longer than [`MAX_LINE`]
/// (read no further than the limit), `None` the end of the connection (a
/// last line without `\n` is dropped: the peer closed mid-line).
pub async fn next_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> Option<bool> {
    line.clear();
    let limit = MAX_LINE as u64 + 2; // the longest line, its \r and \n
    let n = reader.take(limit).read_until(b'\n', line).await.ok()?;
    if line.pop() != Some(b'\n') {
        return (n as u64 == limit).then_some(false);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Some(line.len() <= MAX_LINE)
}
