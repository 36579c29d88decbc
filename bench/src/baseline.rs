//! The tokio echo servers our servers are measured against.
//!
//! Both run on a `current_thread` runtime, as our servers run one event loop by
//! default, so the comparison is one thread against one thread.
//!
//! * TCP: the shape of tokio's own `examples/echo.rs` — one task per connection,
//!   each with its own buffer, `read` then `write_all` — with the read buffer the
//!   same size as tcp-server's and `TCP_NODELAY` set as tcp-server sets it, so
//!   the only difference left is the runtime model.
//! * UDP: one task, `recv_from` then `send_to`, with udp-server's 65 535-byte
//!   buffer.
//!
//! The bench runs them as separate processes (this crate's `tokio-tcp-echo`
//! and `tokio-udp-echo` binaries, `src/bin/`), so their CPU time and memory
//! are read from `/proc` exactly like our servers'; the tests run them
//! in-process.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, Result};
use netpoll::cli::announce_listening;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UdpSocket},
};

/// tcp-server reads into one 64 KiB scratch buffer per event loop; the tokio
/// example's per-connection buffer is given the same size so each `read` can
/// take as much as ours can.
pub const TCP_READ_BUF_LEN: usize = 64 * 1024;

/// The largest UDP payload over IPv4, as udp-server's receive buffer.
pub const UDP_BUF_LEN: usize = 65_535;

/// The baselines' one option; like our servers, they print `listening on
/// <addr>` first (SIGTERM simply ends them: they have no summary to print).
#[derive(clap::Parser, Debug)]
pub struct BaselineArgs {
    /// Address to bind; port 0 lets the kernel choose.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
}

/// A baseline's `main`: its options parsed, and a failure in one line
/// naming the program, with exit status 1.
pub fn main(name: &str, serve: fn(BaselineArgs) -> Result<()>) -> std::process::ExitCode {
    use clap::Parser as _;
    match serve(BaselineArgs::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `tokio-tcp-echo`: the TCP baseline as a process.
pub fn tcp_main(args: BaselineArgs) -> Result<()> {
    runtime()?.block_on(async {
        let listener = TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        announce_listening(listener.local_addr()?).context("announcing the address")?;
        serve_tcp(listener).await;
        Ok(())
    })
}

/// `tokio-udp-echo`: the UDP baseline as a process.
pub fn udp_main(args: BaselineArgs) -> Result<()> {
    runtime()?.block_on(async {
        let socket = UdpSocket::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        announce_listening(socket.local_addr()?).context("announcing the address")?;
        serve_udp(socket).await;
        Ok(())
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("building the tokio runtime")
}

/// Accepts for ever, one task per connection (tokio's echo example).
pub async fn serve_tcp(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((socket, _peer)) => {
                tokio::spawn(echo(socket));
            }
            Err(err) => {
                // Out of descriptors, typically: retrying at once would spin.
                eprintln!("tokio-tcp-echo: accept: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn echo(mut socket: TcpStream) {
    // The example `expect`s here; a baseline must not die on one bad peer.
    let _ = socket.set_nodelay(true);
    let mut buf = vec![0; TCP_READ_BUF_LEN];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if socket.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Echoes every datagram to its sender, for ever.
pub async fn serve_udp(socket: UdpSocket) {
    let mut buf = vec![0; UDP_BUF_LEN];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let _ = socket.send_to(&buf[..n], peer).await;
    }
}

/// A baseline running on a thread of this process, for tests: stopped and joined
/// on drop.
#[cfg(test)]
pub struct InProcess {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(test)]
impl InProcess {
    pub fn tcp() -> InProcess {
        Self::spawn(|addr_tx| async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            serve_tcp(listener).await
        })
    }

    pub fn udp() -> InProcess {
        Self::spawn(|addr_tx| async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(socket.local_addr().unwrap()).unwrap();
            serve_udp(socket).await
        })
    }

    fn spawn<F, Fut>(serve: F) -> InProcess
    where
        F: FnOnce(std::sync::mpsc::Sender<SocketAddr>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime().unwrap().block_on(async move {
                tokio::select! {
                    () = serve(addr_tx) => {}
                    _ = stop_rx => {}
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("baseline bound its socket");
        InProcess {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

#[cfg(test)]
impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
