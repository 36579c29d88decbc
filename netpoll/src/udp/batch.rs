//! [`RecvBatch`]: many datagrams per system call, and knowing when the socket
//! is drained without asking it once more.
//!
//! Edge-triggered readiness obliges the loop to read until the socket is
//! empty. With `recv_from` the only way to learn that is one more call that
//! fails with `WouldBlock`: in ping-pong traffic, one datagram at a time,
//! that is one system call in four (`epoll_wait`, `recvfrom`, `sendto`,
//! `recvfrom` → `EAGAIN`) spent on nothing. Linux's `recvmmsg(2)` receives up
//! to [`BATCH`] datagrams in one call and stops when the queue is empty, so
//! a batch shorter than [`BATCH`] *is* the "drained" answer. (Should
//! `recvmmsg` stop early on an error instead, Linux keeps the error as the
//! socket's pending error, which wakes `epoll` again: nothing is stranded.)
//! Under load the same call also takes many datagrams for the price of one.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use super::RECV_BUFFER_LEN;

/// Datagrams received per `recvmmsg` call. Each has its own
/// [`RECV_BUFFER_LEN`] buffer: 2 MiB in all, but of address space; the
/// kernel writes, and so makes resident, only the pages datagrams use.
pub(crate) const BATCH: usize = 32;

/// The system call one batch costs, for the trace.
pub(crate) const CALL: &str = "recvmmsg";

/// The buffers and headers `recvmmsg` fills, allocated once per server.
pub(crate) struct RecvBatch {
    buffers: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// How many headers the last call filled.
    filled: usize,
}

// SAFETY: the raw pointers in `iovecs` and `headers` are rewritten from
// `&mut self` before every call and never dereferenced by Rust code, so
// nothing about them is tied to the thread that made them.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        RecvBatch {
            buffers: vec![0; BATCH * RECV_BUFFER_LEN],
            // SAFETY: all-zero bytes are a valid `sockaddr_storage` (an
            // unspecified address family).
            addrs: vec![unsafe { mem::zeroed() }; BATCH],
            // SAFETY: all-zero bytes are a valid `iovec` (a null pointer
            // and a zero length).
            iovecs: vec![unsafe { mem::zeroed() }; BATCH],
            // SAFETY: all-zero bytes are a valid `mmsghdr` (null pointers
            // and zero lengths).
            headers: vec![unsafe { mem::zeroed() }; BATCH],
            filled: 0,
        }
    }

    /// Receives up to [`BATCH`] datagrams without blocking; returns how many.
    /// Fewer than [`BATCH`] means the socket's queue is now empty.
    pub(crate) fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        // Point every header at its buffer and address afresh: the kernel
        // overwrote the lengths and flags last time, and pointers taken
        // from `&mut self` just now are trivially valid for this call.
        // Some 200 stores: noise beside the system call.
        let buffers = self.buffers.chunks_exact_mut(RECV_BUFFER_LEN);
        let slots = self
            .headers
            .iter_mut()
            .zip(&mut self.iovecs)
            .zip(&mut self.addrs);
        for (((header, iovec), addr), buffer) in slots.zip(buffers) {
            iovec.iov_base = buffer.as_mut_ptr().cast();
            iovec.iov_len = buffer.len();
            header.msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen = SOCKADDR_STORAGE_LEN;
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        self.filled = 0;
        // SAFETY: each of the BATCH headers points at a live
        // sockaddr_storage of the length it states and at one iovec
        // covering a live buffer of `RECV_BUFFER_LEN` bytes, all owned by
        // `self`, which is mutably borrowed for the whole call.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        // Non-negative and at most BATCH, as recvmmsg(2) promises.
        self.filled = (received as usize).min(BATCH);
        Ok(self.filled)
    }

    /// The `i`-th datagram of the last [`RecvBatch::recv`]: its payload and
    /// sender, or `None` (after logging) when it cannot be echoed: a sender
    /// address that is not IPv4/IPv6, or a datagram cut short.
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let header = &self.headers[..self.filled][i];
        let len = (header.msg_len as usize).min(RECV_BUFFER_LEN);
        let payload = &self.buffers[i * RECV_BUFFER_LEN..][..len];
        // Both lines below cannot happen for a UDP socket over IP (the
        // kernel always gives an IP sender and the buffer holds any UDP
        // payload).
        let Some(peer) = socket_addr(&self.addrs[i], header.msg_hdr.msg_namelen) else {
            log::warn!("datagram of {len} bytes from a non-IP address ignored");
            return None;
        };
        if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            // Impossible for UDP with a 65 535-byte buffer; an echo of
            // a cut datagram would be wrong, so say so instead.
            log::warn!("datagram from {peer} longer than {RECV_BUFFER_LEN} bytes ignored");
            return None;
        }
        Some((payload, peer))
    }
}

const SOCKADDR_STORAGE_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_storage>() as _;

/// The sender address the kernel wrote, as a `SocketAddr`.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, the
            // length says it was written whole, and sockaddr_storage is
            // large and aligned enough for any socket address.
            let addr =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
                u16::from_be(addr.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let addr = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(addr.sin6_addr.s6_addr),
                u16::from_be(addr.sin6_port),
                addr.sin6_flowinfo,
                addr.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// A receiving socket whose `peek_from` waits (boundedly) for the next
    /// datagram; `recvmmsg` itself is always called with `MSG_DONTWAIT`.
    fn receiver(ip: &str) -> UdpSocket {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    }

    /// Receives `count` datagrams through `batch`, waiting for each batch's
    /// first datagram with `peek_from` so that nothing depends on when the
    /// kernel delivers them.
    fn receive(
        batch: &mut RecvBatch,
        socket: &UdpSocket,
        count: usize,
    ) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut seen = Vec::new();
        while seen.len() < count {
            socket.peek_from(&mut [0; 1]).expect("a datagram in time");
            let received = batch.recv(socket).unwrap();
            assert!((1..=BATCH).contains(&received));
            for i in 0..received {
                let (payload, from) = batch.datagram(i).unwrap();
                seen.push((payload.to_vec(), from));
            }
        }
        seen
    }

    #[test]
    fn datagrams_come_with_their_sender_and_an_empty_queue_is_would_block() {
        let receiver = receiver("127.0.0.1");
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let from = sender.local_addr().unwrap();
        let mut batch = RecvBatch::new();
        assert_eq!(
            batch.recv(&receiver).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );

        let payloads: [&[u8]; 3] = [b"one", b"", b"three"];
        for payload in payloads {
            sender
                .send_to(payload, receiver.local_addr().unwrap())
                .unwrap();
        }
        let seen = receive(&mut batch, &receiver, 3);
        let expected: Vec<_> = payloads.iter().map(|p| (p.to_vec(), from)).collect();
        assert_eq!(seen, expected);
        assert_eq!(
            batch.recv(&receiver).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn more_than_a_batch_is_received_over_several_calls_in_order() {
        // IPv6 too when the machine has it, to cover the other address
        // conversion.
        for ip in ["127.0.0.1", "::1"] {
            let Ok(sender) = UdpSocket::bind((ip, 0)) else {
                continue;
            };
            let receiver = receiver(ip);
            for n in 0..BATCH + 5 {
                sender
                    .send_to(n.to_string().as_bytes(), receiver.local_addr().unwrap())
                    .unwrap();
            }
            let mut batch = RecvBatch::new();
            let seen = receive(&mut batch, &receiver, BATCH + 5);
            let expected: Vec<_> = (0..BATCH + 5)
                .map(|n| (n.to_string().into_bytes(), sender.local_addr().unwrap()))
                .collect();
            assert_eq!(seen, expected, "{ip}");
        }
    }
}
