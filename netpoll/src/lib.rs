//! The readiness loops every server of this workspace runs on: TCP and UDP,
//! one thread and one mio [`Poll`](mio::Poll) each.
//!
//! The Go tutorial's servers look blocking (`conn.Read`, `ReadFromUDP`), and
//! Go's runtime hides what makes that cheap: the *netpoller*, an epoll (or
//! kqueue, or IOCP) loop that parks a goroutine when its socket has nothing
//! and wakes it when it has. This crate is that machinery, written out, so a
//! reader can see every decision a netpoller makes; the programs
//! (`tcp-server`, `udp-server`, `stick-demo`) only say what to do with bytes.
//!
//! # The same idea, with and without connections
//!
//! | | TCP ([`tcp`]) | UDP ([`udp`]) |
//! |---|---|---|
//! | what a program writes | a [`tcp::Handler`] per connection, made by a factory | one [`udp::Handler`] for the socket |
//! | the builder | [`tcp::Server`] | [`udp::Server`] |
//! | running | [`ServerHandle`]`<`[`tcp::Stats`]`>` | [`ServerHandle`]`<`[`udp::Stats`]`>` |
//! | stopping | [`ServerHandle::shutdown`], or SIGINT/SIGTERM with `handle_signals(true)` | the same |
//! | output the kernel cannot take yet | per-connection pending output, backpressure | a bounded [`udp::SendQueue`] |
//! | between requests | with at most two connections, after traffic, polls without sleeping for a short window; then sleeps until readiness or its nearest timer ([`spin`]) | after traffic, the same window; then sleeps |
//! | reaching a peer from elsewhere | by its [`tcp::ConnId`]: letters from other handlers ([`tcp::Conn::send_to`]) and threads ([`tcp::Remote`]) | by its address, from the handler ([`udp::Socket::send_to`]) |
//! | a handler's timers | per connection ([`tcp::Conn::set_timer`]) | none: no connections to time |
//!
//! # Building on the loop
//!
//! An echo needs only its own bytes. A program built on the loop (a chat,
//! a worker pool) needs more, and a TCP handler gets it through its
//! [`tcp::Conn`]: speaking first ([`tcp::Handler::on_open`]), a name for a
//! connection that no later one can answer to ([`tcp::ConnId`]), letters
//! to other connections, on any loop, and from any thread through a
//! mailbox and a wake-up ([`tcp::Remote`], libuv's `uv_async_send`), a
//! reply owed by a worker thread ([`tcp::Reply`], `uv_queue_work`),
//! timers, a last word before the close, and whole lines or frames instead
//! of reads ([`tcp::FrameReader`]). Each guarantee the loop makes (order,
//! backpressure, a graceful stop) holds for letters too. The list, each
//! item with the test that proves it, is in [`tcp`]'s module doc; why
//! each is built as it is, in `docs/building-on-the-loop.md`; the program
//! that uses them, `worker-pool`.
//!
//! # Where to start reading
//!
//! 1. [`tcp`]: its module doc lists what the loop does so a handler does not
//!    have to; `tcp/event_loop.rs` opens with the loop itself, and
//!    `tcp/connection.rs` is a connection and its turn.
//! 2. [`udp`]: the same ideas without connections.
//! 3. What both loops share: [`Server`], the one builder (`server.rs`);
//!    how a loop waits (`poller.rs`), learns to stop (`stop.rs`) and why it
//!    polls a little before sleeping (`spin.rs`); the OS's words (`os.rs`).
//!
//! What every program does the same way at its edges (`--addr`, the
//! `listening on` line, printing untrusted bytes, a stdout and a stderr
//! that never block a loop) is not here but in the programs' crate,
//! `edges`: a program on this crate brings its own.
//!
//! # No write of its own
//!
//! A loop must never block, and a write to a stdout or stderr that nobody
//! reads blocks. So the loops write nothing: what they have to say (a
//! refusal at `--max-conns`, the stop's "waiting up to 5 s…", a line of
//! `--trace`) is a `log` record, handed to the program's logger, and what
//! a handler prints is the handler's business. The programs' logger
//! (`edges/src/console/logger.rs`) and their handlers' output go through
//! bounded queues that a thread of their own writes out, so no write a
//! loop makes can block it; a program on another logger must choose one
//! that does not block either. Two kinds of record are not messages:
//! `--trace` lines, under the target [`trace::TARGET`], and what a loop
//! says in answer to Ctrl-C, under [`SIGNAL_TARGET`].
//!
//! # Spinning before sleeping
//!
//! Explained once, in [`spin`]; measured in `docs/performance.md`.

mod handle;
mod os;
mod poller;
mod rate_limited_log;
mod server;
pub mod spin;
mod stop;
pub mod tcp;
pub mod trace;
pub mod udp;

pub use handle::ServerHandle;
pub use os::raise_open_file_limit;
pub use rate_limited_log::RateLimitedLog;
pub use server::Server;
pub use stop::SIGNAL_TARGET;
