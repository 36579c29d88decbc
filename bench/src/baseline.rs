//! The tokio echo servers ours are measured against, on a `current_thread`
//! runtime, as our servers run one event loop by default: one thread
//! against one thread.
//!
//! * TCP: the shape of tokio's own `examples/echo.rs` (one task per
//!   connection, each with its own buffer, `read` then `write_all`), with
//!   the read buffer the size of tcp-server's and `TCP_NODELAY` set as
//!   tcp-server sets it, so the only difference left is the runtime model.
//! * UDP: one task, `recv_from` then `send_to`, with udp-server's
//!   65 535-byte buffer.
//!
//! The bench runs them as processes of their own (this crate's
//! `tokio-tcp-echo` and `tokio-udp-echo`), so their CPU time and memory are
//! read from `/proc` exactly like our servers'; the tests run them on a
//! thread ([`serve`]).

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, Result};
use edges::cli::announce_listening;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UdpSocket},
};

/// tcp-server reads into one 64 KiB buffer per loop; the example's
/// per-connection buffer is given the same size.
pub const TCP_READ_BUF_LEN: usize = 64 * 1024;

/// The largest UDP payload over IPv4, as udp-server's receive buffer.
pub const UDP_BUF_LEN: usize = 65_535;

/// The baselines' one option; like our servers they print `listening on
/// <addr>` first (SIGTERM simply ends them: they have no summary).
#[derive(clap::Parser, Debug)]
pub struct BaselineArgs {
    /// Address to bind; port 0 lets the kernel choose.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
}

/// Which baseline.
#[derive(Clone, Copy, Debug)]
pub enum Baseline {
    /// `tokio-tcp-echo`.
    Tcp,
    /// `tokio-udp-echo`.
    Udp,
}

/// A baseline's `main`: binds, announces, serves; a failure is one line
/// naming the program, with exit status 1.
pub fn main(baseline: Baseline) -> std::process::ExitCode {
    use clap::Parser as _;
    let args = BaselineArgs::parse();
    let served = runtime().and_then(|rt| {
        rt.block_on(serve(baseline, args.addr, |addr| {
            announce_listening(addr).context("announcing the address")
        }))
    });
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!(
                "tokio-{}-echo: {err:#}",
                format!("{baseline:?}").to_lowercase()
            );
            std::process::ExitCode::FAILURE
        }
    }
}

/// A `current_thread` runtime: one thread, as our servers' one loop.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder
        .enable_io()
        .enable_time()
        .build()
        .context("building the tokio runtime")
}

/// Binds `addr`, tells `bound` the address, and serves for ever.
pub async fn serve(
    baseline: Baseline,
    addr: SocketAddr,
    bound: impl FnOnce(SocketAddr) -> Result<()>,
) -> Result<()> {
    match baseline {
        Baseline::Tcp => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            bound(listener.local_addr()?)?;
            loop {
                match listener.accept().await {
                    Ok((socket, _)) => drop(tokio::spawn(echo(socket))),
                    // Out of descriptors, typically: retrying at once would spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
        Baseline::Udp => {
            let socket = UdpSocket::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            bound(socket.local_addr()?)?;
            let mut buf = vec![0; UDP_BUF_LEN];
            loop {
                if let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                    let _ = socket.send_to(&buf[..n], peer).await;
                }
            }
        }
    }
}

async fn echo(mut socket: TcpStream) {
    // The example `expect`s here; a baseline must not die on one bad peer.
    let _ = socket.set_nodelay(true);
    let mut buf = vec![0; TCP_READ_BUF_LEN];
    while let Ok(n @ 1..) = socket.read(&mut buf).await {
        if socket.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A baseline on a thread of this process, for tests: its address. The
/// thread serves until the test process ends.
#[cfg(test)]
pub fn on_a_thread(baseline: Baseline) -> SocketAddr {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let bound = |addr| Ok(addr_tx.send(addr)?);
        runtime()
            .unwrap()
            .block_on(serve(baseline, any, bound))
            .unwrap();
    });
    addr_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the baseline bound its socket")
}
