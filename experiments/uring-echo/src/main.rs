//! Experiment, not part of the workspace: a TCP echo server on io_uring.
//!
//! Could tcp-server spend less CPU per request than tokio's echo? Both make one
//! `recvfrom` and one `sendto` per request, so the question this program
//! answers is how much of the cost is the system calls themselves: here one
//! `io_uring_enter` submits the sends and receives of every ready connection
//! at once (about 0.06 calls per request under the benchmark), leaving only the
//! TCP work. Run it in the benchmark's place as docs/performance.md describes.
//!
//! It speaks the benchmark's protocol and nothing more: `--addr`, a
//! `listening on <addr>` line, and a `summary:` line on SIGTERM or SIGINT.

use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use slab::Slab;

/// Same read size as tcp-server and the tokio baseline.
const BUF: usize = 64 * 1024;

/// What a completion is for: the kind in the high half of `user_data`, the
/// connection's slab key in the low half.
const ACCEPT: u64 = 0;
const SIGNAL: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;

fn user_data(op: u64, key: usize) -> u64 {
    (op << 32) | key as u64
}

/// One connection alternates between one receive and one send in flight, so
/// its buffer is never shared and is freed only when nothing is in flight.
struct Conn {
    fd: OwnedFd,
    buf: Box<[u8]>,
    len: usize,
    sent: usize,
}

impl Conn {
    fn recv(&mut self, key: usize) -> squeue::Entry {
        let fd = types::Fd(self.fd.as_raw_fd());
        opcode::Recv::new(fd, self.buf.as_mut_ptr(), BUF as u32)
            .build()
            .user_data(user_data(RECV, key))
    }

    fn send_rest(&self, key: usize) -> squeue::Entry {
        let fd = types::Fd(self.fd.as_raw_fd());
        let rest = &self.buf[self.sent..self.len];
        opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
            .build()
            .user_data(user_data(SEND, key))
    }
}

/// Queues an entry, submitting what is queued if the ring is full.
fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    // SAFETY: every buffer an entry points at lives in a `Conn` (or in
    // `main`'s frame, for the signal read) until its completion is reaped.
    while unsafe { ring.submission().push(entry) }.is_err() {
        ring.submit()?;
    }
    Ok(())
}

/// SIGTERM and SIGINT, blocked and turned into a readable descriptor, so that
/// a signal is one more completion on the ring.
fn signal_fd() -> io::Result<RawFd> {
    // SAFETY: plain libc calls on a zeroed, then initialised, signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        match libc::signalfd(-1, &set, libc::SFD_CLOEXEC) {
            -1 => Err(io::Error::last_os_error()),
            fd => Ok(fd),
        }
    }
}

fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: `fd` is an open socket and `one` outlives the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:20000");
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            addr = args
                .next()
                .ok_or_else(|| io::Error::other("--addr needs a value"))?;
        } // anything else (`--quiet`) is accepted and ignored
    }
    let listener = TcpListener::bind(&addr)?;
    let signals = signal_fd()?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;

    // One thread submits and reaps, and completions run only when it enters
    // the ring: the cheapest modes io_uring offers for this shape.
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(4096)?;

    let listen_fd = types::Fd(listener.as_raw_fd());
    let accept = opcode::AcceptMulti::new(listen_fd)
        .build()
        .user_data(user_data(ACCEPT, 0));
    let mut siginfo = [0u8; 128];
    let signal_read = opcode::Read::new(types::Fd(signals), siginfo.as_mut_ptr(), 128)
        .build()
        .user_data(user_data(SIGNAL, 0));
    push(&mut ring, &accept)?;
    push(&mut ring, &signal_read)?;

    let mut conns: Slab<Conn> = Slab::new();
    let (mut served, mut echoed) = (0u64, 0u64);
    let mut reaped: Vec<cqueue::Entry> = Vec::with_capacity(4096);
    loop {
        ring.submit_and_wait(1)?;
        reaped.extend(ring.completion());
        for cqe in reaped.drain(..) {
            let key = (cqe.user_data() & 0xffff_ffff) as usize;
            let res = cqe.result();
            match cqe.user_data() >> 32 {
                ACCEPT => {
                    if res >= 0 {
                        // SAFETY: a successful accept returns a new descriptor we own.
                        let fd = unsafe { OwnedFd::from_raw_fd(res) };
                        set_nodelay(res);
                        let buf = vec![0u8; BUF].into_boxed_slice();
                        let key = conns.insert(Conn {
                            fd,
                            buf,
                            len: 0,
                            sent: 0,
                        });
                        served += 1;
                        let entry = conns[key].recv(key);
                        push(&mut ring, &entry)?;
                    }
                    if !cqueue::more(cqe.flags()) {
                        push(&mut ring, &accept)?; // multishot ended (e.g. EMFILE)
                    }
                }
                SIGNAL => {
                    println!("summary: served {served} connections, echoed {echoed} bytes");
                    return io::stdout().flush();
                }
                RECV if res <= 0 => drop(conns.remove(key)), // EOF or error
                RECV => {
                    let conn = &mut conns[key];
                    (conn.len, conn.sent) = (res as usize, 0);
                    let entry = conn.send_rest(key);
                    push(&mut ring, &entry)?;
                }
                SEND if res < 0 => drop(conns.remove(key)),
                SEND => {
                    echoed += res as u64;
                    let conn = &mut conns[key];
                    conn.sent += res as usize;
                    let entry = if conn.sent < conn.len {
                        conn.send_rest(key)
                    } else {
                        conn.recv(key)
                    };
                    push(&mut ring, &entry)?;
                }
                _ => unreachable!("every user_data is made by `user_data`"),
            }
        }
    }
}
