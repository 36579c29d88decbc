//! The UDP server as its user builds it: [`Server`], the builder every
//! server shares ([`crate::Server`]) with the settings of UDP's send queue,
//! set here, and where it listens by default ([`DEFAULT_ADDR`]).
//! [`start`](crate::Server::start) is where the loop begins, in
//! `event_loop.rs`.

use super::Handler;

/// Where `udp-server` listens unless `--addr` says otherwise: loopback.
///
/// The Go server binds `0.0.0.0:30000`, every interface. A UDP echo server
/// on a public interface is an open *reflector*: UDP has no handshake, so
/// anyone can send us a datagram whose source address is forged to be a
/// victim's, and we dutifully "echo" it at the victim, hiding the attacker
/// (reflection). Forge the source as *another* echo server and the two
/// bounce one datagram between them for ever; a few such loops multiply the
/// attacker's bandwidth without end (amplification). That is why the IANA
/// echo port 7 is closed almost everywhere. A teaching server should not do
/// that by default, so ours answers only on loopback. To serve other
/// machines deliberately, bind all interfaces yourself:
/// `--addr 0.0.0.0:30000` (or `[::]:30000`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:30000";

/// Builder of a UDP server: the handler plus the loop's limits.
/// `Server::new(handler)`, the settings, then
/// [`start`](crate::Server::start).
///
/// See the [module documentation](super) for an example.
pub type Server<H> = crate::Server<Udp<H>>;

/// The UDP part of a [`Server`]: the handler, and the limits of its send
/// queue.
pub struct Udp<H> {
    pub(super) handler: H,
    pub(super) options: Options,
}

/// The limits of a UDP server's loop, as set on its builder.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) queue_datagrams: usize,
    pub(super) queue_bytes: usize,
}

impl<H> Server<H>
where
    H: Handler + Send + 'static,
{
    /// A server calling `handler` for every datagram.
    pub fn new(handler: H) -> Self {
        crate::Server::with(Udp {
            handler,
            options: Options {
                // Of the order of the kernel's own default UDP send buffer
                // (~208 KiB on Linux) times a few: enough to ride out a
                // burst, small enough that a flood costs at most 1 MiB.
                queue_datagrams: 1024,
                queue_bytes: 1024 * 1024,
            },
        })
    }

    /// Most datagrams kept while the kernel refuses sends (default 1024);
    /// see [`SendQueue`](super::SendQueue).
    pub fn queue_datagrams(mut self, datagrams: usize) -> Self {
        self.protocol.options.queue_datagrams = datagrams;
        self
    }

    /// Most payload bytes kept while the kernel refuses sends (default 1 MiB).
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.protocol.options.queue_bytes = bytes;
        self
    }
}
