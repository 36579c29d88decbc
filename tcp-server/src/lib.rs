//! The TCP echo server of the Go tutorial (`tcp/server/main.go`), and the
//! event loop it runs on, which the `stick-demo` servers reuse.
//!
//! The Go server starts a goroutine per connection that reads into a
//! 128-byte buffer and writes back what it read. This crate does the same
//! work with one thread and one mio `Poll`, and fixes what the Go program
//! gets wrong (see `src/main.rs` and `tests/echo.rs`).
//!
//! Where to start reading:
//!
//! * [`echo::Echo`]: the whole echo server as a [`Handler`], the Go
//!   `process` function in a few lines.
//! * [`event_loop`]: the readiness loop: edge-triggered reads and writes,
//!   pending output, backpressure, limits, graceful shutdown.
//! * [`proto::Escaped`]: how untrusted bytes are printed (shared by every
//!   program of the workspace).
//! * `src/main.rs`: the command line, beside the Go `main`.

pub mod echo;
pub mod event_loop;

pub use event_loop::{CloseReason, Conn, Handler, Server, ServerHandle, Stats};
