//! Reading a server's first line, `listening on <addr>`: the one parser of
//! the contract every server here keeps (the demo, compare, the bench and
//! the tests all learn a server's port from it).

use std::{
    fmt,
    net::{AddrParseError, SocketAddr},
};

/// Why a line is not `listening on <addr>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotListening {
    /// Some other line.
    OtherLine(String),
    /// The words are there, but what follows is no socket address.
    BadAddress {
        addr: String,
        source: AddrParseError,
    },
}

impl fmt::Display for NotListening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotListening::OtherLine(line) => {
                write!(f, "expected `listening on <addr>`, got {line:?}")
            }
            NotListening::BadAddress { addr, .. } => {
                write!(f, "`{addr}` is not a socket address")
            }
        }
    }
}

impl std::error::Error for NotListening {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NotListening::OtherLine(_) => None,
            NotListening::BadAddress { source, .. } => Some(source),
        }
    }
}

/// The address in `listening on <addr>` (a line end is ignored).
pub fn listening_addr(line: &str) -> Result<SocketAddr, NotListening> {
    let addr = line
        .trim_end()
        .strip_prefix("listening on ")
        .ok_or_else(|| NotListening::OtherLine(line.to_owned()))?;
    addr.parse().map_err(|source| NotListening::BadAddress {
        addr: addr.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_gives_the_address_and_anything_else_is_an_error() {
        assert_eq!(
            listening_addr("listening on 127.0.0.1:40123\n").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 40123))
        );
        assert!(listening_addr("listening on [::1]:9").is_ok());
        assert_eq!(
            listening_addr("Listening on 127.0.0.1:1"),
            Err(NotListening::OtherLine("Listening on 127.0.0.1:1".into()))
        );
        assert!(matches!(
            listening_addr("listening on nowhere"),
            Err(NotListening::BadAddress { addr, .. }) if addr == "nowhere"
        ));
        assert!(listening_addr("starting up").is_err());
    }
}
