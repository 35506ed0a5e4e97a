//! The socket under a connection: where an attempt goes (each address of the
//! host, or the Unix socket file), and opening it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use tokio::net::TcpStream;

use super::config::{Config, Host};
use super::error::Error;
use super::stream::Stream;

/// Where one connection attempt goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    #[cfg_attr(not(unix), allow(dead_code))]
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "{addr}"),
            Target::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Every address to try for the config's host, in order.
pub(crate) async fn targets(config: &Config) -> Result<Vec<Target>, Error> {
    match &config.host {
        Host::Unix(dir) => Ok(vec![Target::Unix(dir.join(format!(".s.PGSQL.{}", config.port)))]),
        Host::Tcp(name) => {
            if let Ok(ip) = name.parse::<IpAddr>() {
                return Ok(vec![Target::Tcp(SocketAddr::new(ip, config.port))]);
            }
            let addrs = tokio::net::lookup_host((name.as_str(), config.port))
                .await
                .map_err(|source| Error::Dns { host: name.clone(), source })?;
            Ok(addrs.map(Target::Tcp).collect())
        }
    }
}

/// Opens the socket, with TCP_NODELAY (Nagle would add ~40 ms to small exchanges).
pub(crate) async fn open(target: &Target) -> Result<Stream, Error> {
    let failed = |source| Error::Connect { addr: target.to_string(), source };
    match target {
        Target::Tcp(addr) => {
            let tcp = TcpStream::connect(addr).await.map_err(failed)?;
            tcp.set_nodelay(true).map_err(failed)?;
            Ok(Stream::Tcp(tcp))
        }
        #[cfg(unix)]
        Target::Unix(path) => Ok(Stream::Unix(tokio::net::UnixStream::connect(path).await.map_err(failed)?)),
        #[cfg(not(unix))]
        Target::Unix(_) => Err(failed(std::io::Error::other("Unix sockets are not available here"))),
    }
}
