//! Starting the server: pingora with one HTTP service (plain or TLS with
//! HTTP/2) and the session reaper, stopped in order on SIGTERM or SIGINT
//! (see `shutdown.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::DoorConfig;
use crate::door::Door;
use crate::intake::{Intake, Limits};
use crate::observe::AuditLog;
use crate::session::Reaper;
use crate::shutdown::Shutdown;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("--tls-cert/--tls-key: {0}")]
    Tls(String),
    /// The audit log cannot be opened.
    #[error("--audit-log {path}: {source}")]
    Audit {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs until SIGTERM or SIGINT, then drains, lets in-flight requests finish
/// (up to the grace period) and closes every session with Terminate.
pub fn run(config: DoorConfig) -> Result<(), StartError> {
    // pingora would retry a busy port for 30 s and then fail inside a worker.
    drop(
        std::net::TcpListener::bind(&config.listen)
            .map_err(|source| StartError::Listen { addr: config.listen.clone(), source })?,
    );
    if let Some(tls) = &config.tls {
        // pingora panics on unusable files; check them first.
        CertificateDer::pem_file_iter(&tls.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| StartError::Tls(format!("{}: {e}", tls.cert.display())))?;
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| StartError::Tls(format!("{}: {e}", tls.key.display())))?;
    }
    let audit = config
        .audit_log
        .as_deref()
        .map(|path| {
            AuditLog::open(path).map_err(|source| StartError::Audit { path: path.display().to_string(), source })
        })
        .transpose()?;
    if let Some(addr) = config.metrics_addr {
        drop(
            std::net::TcpListener::bind(addr)
                .map_err(|source| StartError::Listen { addr: addr.to_string(), source })?,
        );
    }
    let config = Arc::new(config);
    let conf = ServerConf {
        threads: config.threads,
        // pgdoor drains and waits itself before it tells pingora to stop;
        // then only answers being written remain.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);

    let door = Door::new(config.clone(), audit);
    let reaper =
        Reaper { registry: door.sessions(), idle_timeout: config.idle_timeout, lifetime: config.session_lifetime };
    let shutdown = Shutdown {
        lifecycle: door.lifecycle(),
        sessions: door.sessions(),
        drain_delay: config.drain_delay,
        grace_period: config.grace_period,
    };
    let limits = Limits {
        per_address: config.max_connections_per_address,
        header_timeout: config.header_timeout,
        trusted: config.trusted_proxies.clone(),
    };
    let proxy = pingora::proxy::http_proxy(&server.configuration, door);
    let mut service = Service::new("pgdoor".to_owned(), Intake::new(proxy, limits));
    match &config.tls {
        Some(tls) => {
            let cert = tls.cert.to_string_lossy();
            let key = tls.key.to_string_lossy();
            let mut settings = TlsSettings::intermediate(&cert, &key).map_err(|e| StartError::Tls(e.to_string()))?;
            settings.enable_h2();
            service.add_tls_with_settings(&config.listen, None, settings);
        }
        None => service.add_tcp(&config.listen),
    }
    if let Some(addr) = config.metrics_addr {
        // The same service; requests arriving here get /metrics only.
        service.add_tcp(&addr.to_string());
    }
    server.add_service(service);
    server.add_service(background_service("session reaper", reaper));
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    tracing::info!("pgdoor listening on {scheme}://{}{}/", config.listen, config.prefix);
    server.run(RunArgs { shutdown_signal: Box::new(InOrder(shutdown)) });
    Ok(())
}

/// SIGTERM and SIGINT both run the [`Shutdown`] sequence (pingora's default
/// makes SIGINT abrupt); pingora is told to stop only once it is done.
struct InOrder(Shutdown);

#[async_trait]
impl ShutdownSignalWatch for InOrder {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        tokio::select! {
            () = self.0.settle() => {}
            _ = term.recv() => tracing::info!("SIGTERM again: closing sessions now"),
            _ = int.recv() => tracing::info!("SIGINT again: closing sessions now"),
        }
        self.0.close_sessions().await;
        ShutdownSignal::GracefulTerminate
    }
}
