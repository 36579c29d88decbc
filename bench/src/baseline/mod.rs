//! The tokio servers ours are measured against, on a `current_thread`
//! runtime, as our servers run one event loop by default: one thread
//! against one thread.
//!
//! * TCP: the shape of tokio's own `examples/echo.rs` (one task per
//!   connection, each with its own buffer, `read` then `write_all`), with
//!   the read buffer the size of tcp-server's (64 KiB) and `TCP_NODELAY`
//!   set as tcp-server sets it, so the only difference left is the runtime
//!   model.
//! * UDP: one task, `recv_from` then `send_to`, with udp-server's
//!   65 535-byte buffer.
//! * The worker pool and the chat, speaking the protocols of `worker-pool`
//!   and `chat`: [`pool`] (`spawn_blocking`) and [`chat`] (tokio's
//!   `examples/chat.rs`).
//!
//! The bench runs them as processes of their own (this crate's
//! `tokio-tcp-echo`, `tokio-udp-echo`, `tokio-worker-pool` and
//! `tokio-chat`), so their CPU time and memory are read from `/proc`
//! exactly like our servers'; the tests run them on a thread.

pub mod chat;
mod lines;
pub mod pool;

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, UdpSocket},
};

/// The baselines' options; like our servers they print `listening on
/// <addr>` first (SIGTERM simply ends them: they have no summary).
#[derive(clap::Parser, Debug, Clone)]
pub struct BaselineArgs {
    /// Address to bind; port 0 lets the kernel choose.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// tokio-worker-pool: jobs run at once on tokio's blocking threads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: u32,
    /// tokio-worker-pool: jobs that may wait, across all connections.
    #[arg(long, default_value_t = 64)]
    pub queue: u32,
    /// tokio-chat: bytes a peer may leave unread before it is disconnected.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_pending: usize,
}

/// Which baseline: `tokio-tcp-echo`, `tokio-udp-echo`, `tokio-worker-pool`,
/// `tokio-chat`.
#[derive(Clone, Copy, Debug)]
pub enum Baseline {
    /// `tokio-tcp-echo`.
    Tcp,
    /// `tokio-udp-echo`.
    Udp,
    /// `tokio-worker-pool`.
    Pool,
    /// `tokio-chat`.
    Chat,
}

/// A baseline's `main`: binds, announces, serves; a failure is one line
/// naming the program, with exit status 1.
pub fn main(baseline: Baseline) -> std::process::ExitCode {
    use clap::Parser as _;
    let args = BaselineArgs::parse();
    let announce = |addr| edges::cli::announce_listening(addr).context("announcing the address");
    match runtime().and_then(|rt| rt.block_on(serve(baseline, args, announce))) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tokio {baseline:?} baseline: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A `current_thread` runtime: one thread, as our servers' one loop.
fn runtime() -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder
        .enable_io()
        .enable_time()
        .build()
        .context("building the tokio runtime")
}

/// Binds `args.addr`, tells `bound` the address, and serves for ever.
async fn serve(
    baseline: Baseline,
    args: BaselineArgs,
    bound: impl FnOnce(SocketAddr) -> Result<()>,
) -> Result<()> {
    let addr = args.addr;
    if let Baseline::Udp = baseline {
        let socket = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        bound(socket.local_addr()?)?;
        let mut buf = vec![0; 65_535];
        loop {
            if let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(&buf[..n], peer).await;
            }
        }
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    bound(listener.local_addr()?)?;
    let pool = pool::Pool::new(args.workers, args.queue);
    let room = chat::Room::new(args.max_pending);
    loop {
        // Out of descriptors, typically: retrying at once would spin.
        let Ok((mut socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        drop(match baseline {
            Baseline::Pool => tokio::spawn(pool.clone().serve(socket)),
            Baseline::Chat => tokio::spawn(room.clone().serve(socket)),
            _ => tokio::spawn(async move {
                // The example `expect`s here; a baseline must not die on one bad peer.
                let _ = socket.set_nodelay(true);
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = socket.read(&mut buf).await {
                    if socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }),
        });
    }
}

/// A baseline on a thread of this process, for tests: its address. The
/// thread serves until the test process ends.
#[cfg(test)]
pub fn on_a_thread(baseline: Baseline) -> SocketAddr {
    use clap::Parser as _;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let args = BaselineArgs::parse_from(["baseline"]);
        let bound = |addr| Ok(addr_tx.send(addr)?);
        runtime()
            .unwrap()
            .block_on(serve(baseline, args, bound))
            .unwrap();
    });
    addr_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the baseline bound its socket")
}
