//! The authentication exchange after the startup message: trust, cleartext,
//! md5, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (tls-server-end-point).

use std::fmt;

use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::config::{ChannelBinding, Config};
use super::error::{DbError, Error};
use super::framed::Framed;

/// The method the server chose for this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// No password was asked for.
    Trust,
    /// The password was sent in clear (over TLS, hopefully).
    Cleartext,
    /// The md5 challenge.
    Md5,
    /// SCRAM-SHA-256 without channel binding.
    ScramSha256,
    /// SCRAM-SHA-256-PLUS, bound to the TLS channel.
    ScramSha256Plus,
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Trust => "trust (no password asked)",
            AuthMethod::Cleartext => "cleartext password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "SCRAM-SHA-256",
            AuthMethod::ScramSha256Plus => "SCRAM-SHA-256-PLUS (channel binding tls-server-end-point)",
        })
    }
}

/// Runs the exchange until AuthenticationOk.
///
/// `end_point_hash` is the channel binding data when the connection is TLS
/// and the certificate's signature defines a hash.
pub(crate) async fn authenticate(
    framed: &mut Framed,
    config: &Config,
    tls: bool,
    end_point_hash: Option<Vec<u8>>,
) -> Result<AuthMethod, Error> {
    let require_binding = config.channel_binding == ChannelBinding::Require;
    let refuse_unbound = |method: &str| {
        Error::Auth(format!("channel_binding=require, but the server asked for {method}, which has no channel binding"))
    };
    let mut method = AuthMethod::Trust;
    let mut scram: Option<sasl::ScramSha256> = None;
    loop {
        match framed.read().await? {
            Message::AuthenticationOk => {
                if require_binding && method != AuthMethod::ScramSha256Plus {
                    return Err(Error::Auth(
                        "channel_binding=require, but the server authenticated the client without channel binding"
                            .into(),
                    ));
                }
                return Ok(method);
            }
            Message::AuthenticationCleartextPassword => {
                if require_binding {
                    return Err(refuse_unbound("a cleartext password"));
                }
                let password = password(config)?;
                frontend::password_message(password, &mut framed.wbuf).map_err(Error::protocol)?;
                framed.flush().await?;
                method = AuthMethod::Cleartext;
            }
            Message::AuthenticationMd5Password(body) => {
                if require_binding {
                    return Err(refuse_unbound("md5"));
                }
                let hash = md5_hash(config.user.as_bytes(), password(config)?, body.salt());
                frontend::password_message(hash.as_bytes(), &mut framed.wbuf).map_err(Error::protocol)?;
                framed.flush().await?;
                method = AuthMethod::Md5;
            }
            Message::AuthenticationSasl(body) => {
                let mut plus_offered = false;
                let mut plain_offered = false;
                let mut mechanisms = body.mechanisms();
                while let Some(mechanism) = mechanisms.next().map_err(Error::protocol)? {
                    plus_offered |= mechanism == sasl::SCRAM_SHA_256_PLUS;
                    plain_offered |= mechanism == sasl::SCRAM_SHA_256;
                }
                let binding_hash = end_point_hash
                    .clone()
                    .filter(|_| plus_offered && config.channel_binding != ChannelBinding::Disable);
                let (mechanism, binding) = match binding_hash {
                    Some(hash) => {
                        method = AuthMethod::ScramSha256Plus;
                        (sasl::SCRAM_SHA_256_PLUS, sasl::ChannelBinding::tls_server_end_point(hash))
                    }
                    None if require_binding => {
                        return Err(Error::Auth(if tls && plus_offered {
                            "channel_binding=require, but the server certificate's signature algorithm defines no hash for tls-server-end-point".into()
                        } else {
                            "channel_binding=require, but the server does not offer SCRAM-SHA-256-PLUS (it needs TLS)"
                                .into()
                        }));
                    }
                    None if !plain_offered => {
                        return Err(Error::Auth(
                            "the server offers no SASL mechanism pgdoor supports (SCRAM-SHA-256)".into(),
                        ));
                    }
                    None => {
                        method = AuthMethod::ScramSha256;
                        // "y,,": we could bind but the server did not offer it; "n,,": we cannot.
                        let binding = if tls && config.channel_binding != ChannelBinding::Disable && !plus_offered {
                            sasl::ChannelBinding::unrequested()
                        } else {
                            sasl::ChannelBinding::unsupported()
                        };
                        (sasl::SCRAM_SHA_256, binding)
                    }
                };
                let state = sasl::ScramSha256::new(password(config)?, binding);
                frontend::sasl_initial_response(mechanism, state.message(), &mut framed.wbuf)
                    .map_err(Error::protocol)?;
                framed.flush().await?;
                scram = Some(state);
            }
            Message::AuthenticationSaslContinue(body) => {
                let state = scram.as_mut().ok_or_else(|| Error::protocol("SASL continue before SASL start"))?;
                state
                    .update(body.data())
                    .map_err(|e| Error::Auth(format!("invalid SCRAM message from the server: {e}")))?;
                frontend::sasl_response(state.message(), &mut framed.wbuf).map_err(Error::protocol)?;
                framed.flush().await?;
            }
            Message::AuthenticationSaslFinal(body) => {
                let state = scram.as_mut().ok_or_else(|| Error::protocol("SASL final before SASL start"))?;
                state.finish(body.data()).map_err(|e| {
                    Error::Auth(format!(
                        "the server's SCRAM signature does not verify ({e}); it may not be the real server"
                    ))
                })?;
            }
            Message::ErrorResponse(body) => {
                return Err(Error::Db(Box::new(DbError::parse(body.fields())?)));
            }
            Message::NoticeResponse(_) => {}
            Message::AuthenticationGss | Message::AuthenticationGssContinue(_) => {
                return Err(unsupported("GSSAPI (Kerberos)"));
            }
            Message::AuthenticationSspi => return Err(unsupported("SSPI")),
            Message::AuthenticationKerberosV5 => return Err(unsupported("Kerberos V5")),
            Message::AuthenticationScmCredential => return Err(unsupported("SCM credentials")),
            _ => return Err(Error::protocol("unexpected message during authentication")),
        }
    }
}

fn password(config: &Config) -> Result<&[u8], Error> {
    config.password_bytes().ok_or_else(|| {
        Error::Auth(format!(
            "the server asks for a password for user \"{}\", but none was given (put it in the connection string, PGPASSWORD or the passfile)",
            config.user
        ))
    })
}

fn unsupported(method: &str) -> Error {
    Error::Auth(format!(
        "the server asks for {method} authentication, which pgdoor does not support; use scram-sha-256 (or md5, password, cert) for this role in pg_hba.conf"
    ))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::super::connect::connect;
    use super::super::error::Error;
    use super::super::fake_server::{serve, started};

    /// A server that knows no password answers SCRAM with a made-up
    /// signature; a client that skipped the check would carry on.
    #[tokio::test]
    async fn a_forged_scram_signature_is_refused() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            peer.auth(10, b"SCRAM-SHA-256\0\0").await;
            let (tag, first) = peer.read().await;
            assert_eq!(tag, b'p');
            let first = String::from_utf8_lossy(&first).into_owned();
            let nonce = first.split("r=").nth(1).expect("the client's nonce");
            let server_first = format!("r={nonce}forged,s={},i=4096", STANDARD.encode(b"salt"));
            peer.auth(11, server_first.as_bytes()).await;
            let (tag, _) = peer.read().await;
            assert_eq!(tag, b'p');
            peer.auth(12, format!("v={}", STANDARD.encode([0u8; 32])).as_bytes()).await;
        })
        .await;
        let error = connect(&config).await.err().expect("a forged signature must fail");
        assert!(matches!(&error, Error::Auth(m) if m.contains("SCRAM signature does not verify")), "{error}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_message_out_of_order_during_authentication_is_a_protocol_error() {
        let (config, server) = serve("sslmode=disable", |mut server| async move {
            let mut peer = started(&mut server).await;
            // A DataRow where an authentication request belongs.
            peer.send(b'D', &0i16.to_be_bytes()).await;
        })
        .await;
        let error = connect(&config).await.err().expect("an out-of-order message must fail");
        assert!(matches!(&error, Error::Protocol(m) if m.contains("during authentication")), "{error}");
        server.await.unwrap();
    }
}
