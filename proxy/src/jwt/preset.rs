//! `--identity-jwt` and its companion flags, with presets for the common
//! gateways filling in the header, the issuer's form and the key set.

use std::path::PathBuf;

use jsonwebtoken::Algorithm;

use super::{KeySource, Settings};

/// The gateways pgdoor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Cloudflare Access: `Cf-Access-Jwt-Assertion`, issuer `https://<team>.cloudflareaccess.com`.
    CloudflareAccess,
    /// Google Cloud IAP: `X-Goog-IAP-JWT-Assertion`, issuer `https://cloud.google.com/iap`.
    GoogleIap,
    /// Pomerium: `X-Pomerium-Jwt-Assertion`, issuer the route's host.
    Pomerium,
    /// oauth2-proxy passing the ID token as `Authorization: Bearer`.
    Oauth2Proxy,
}

impl Preset {
    fn named(name: &str) -> Option<Preset> {
        Some(match name.to_ascii_lowercase().as_str() {
            "cloudflare-access" => Preset::CloudflareAccess,
            "google-iap" => Preset::GoogleIap,
            "pomerium" => Preset::Pomerium,
            "oauth2-proxy" => Preset::Oauth2Proxy,
            _ => return None,
        })
    }
}

/// The flags as given.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--identity-jwt`: a preset or a header name.
    pub identity_jwt: String,
    /// `--jwks-url`.
    pub jwks_url: Option<String>,
    /// `--jwks-file`.
    pub jwks_file: Option<PathBuf>,
    /// `--jwt-issuer`.
    pub issuer: Option<String>,
    /// `--jwt-audience` (repeatable).
    pub audience: Vec<String>,
    /// `--jwt-algorithms`; empty for the preset's (or RS256, ES256, EdDSA).
    pub algorithms: Vec<String>,
    /// `--jwt-leeway`, seconds.
    pub leeway: u64,
    /// `--jwt-identity-claim`.
    pub identity_claim: String,
}

impl Settings {
    /// Settings from the flags; an error names the flag.
    pub fn from_flags(flags: &Flags) -> Result<Settings, String> {
        let preset = Preset::named(&flags.identity_jwt);
        let issuer_flag = flags.issuer.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let (header, bearer, issuer, default_keys, default_algorithms) = match preset {
            Some(Preset::CloudflareAccess) => {
                let issuer = issuer_flag
                    .ok_or("--identity-jwt cloudflare-access needs --jwt-issuer https://<team>.cloudflareaccess.com")?;
                let url = url::Url::parse(issuer).ok().filter(|u| {
                    u.scheme() == "https" && u.host_str().is_some_and(|h| h.ends_with(".cloudflareaccess.com"))
                });
                let Some(url) = url else {
                    return Err(format!(
                        "--jwt-issuer {issuer}: Cloudflare Access issues tokens as https://<team>.cloudflareaccess.com"
                    ));
                };
                let issuer = url.as_str().trim_end_matches('/').to_owned();
                let keys = format!("{issuer}/cdn-cgi/access/certs");
                ("cf-access-jwt-assertion", false, issuer, Some(keys), vec![Algorithm::RS256])
            }
            Some(Preset::GoogleIap) => {
                let issuer = issuer_flag.unwrap_or("https://cloud.google.com/iap").to_owned();
                let keys = "https://www.gstatic.com/iap/verify/public_key-jwk".to_owned();
                ("x-goog-iap-jwt-assertion", false, issuer, Some(keys), vec![Algorithm::ES256])
            }
            Some(Preset::Pomerium) => {
                let issuer = issuer_flag
                    .ok_or("--identity-jwt pomerium needs --jwt-issuer <the route's host>, e.g. db.example.com")?;
                let host = issuer.trim_start_matches("https://").trim_end_matches('/').to_owned();
                let keys = format!("https://{host}/.well-known/pomerium/jwks.json");
                ("x-pomerium-jwt-assertion", false, host, Some(keys), vec![Algorithm::ES256])
            }
            Some(Preset::Oauth2Proxy) => {
                let issuer = issuer_flag
                    .ok_or("--identity-jwt oauth2-proxy needs --jwt-issuer <your OIDC provider's issuer URL>")?;
                ("authorization", true, issuer.to_owned(), None, default_algorithms())
            }
            None => {
                let name = flags.identity_jwt.trim();
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(format!(
                        "--identity-jwt {name}: give a header name or one of cloudflare-access, google-iap, pomerium, oauth2-proxy"
                    ));
                }
                let issuer = issuer_flag.ok_or("--identity-jwt needs --jwt-issuer (the `iss` tokens must have)")?;
                let header = name.to_ascii_lowercase();
                let bearer = header == "authorization";
                return finish(flags, header, bearer, issuer.to_owned(), None, default_algorithms());
            }
        };
        finish(flags, header.to_owned(), bearer, issuer, default_keys, default_algorithms)
    }
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]
}

fn finish(
    flags: &Flags,
    header: String,
    bearer: bool,
    issuer: String,
    default_keys: Option<String>,
    default_algorithms: Vec<Algorithm>,
) -> Result<Settings, String> {
    let keys = match (flags.jwks_url.clone(), &flags.jwks_file, default_keys) {
        (Some(_), Some(_), _) => return Err("give --jwks-url or --jwks-file, not both".into()),
        (None, Some(path), _) => KeySource::File(path.clone()),
        (Some(url), None, _) | (None, None, Some(url)) => KeySource::Url(key_url(&url)?),
        (None, None, None) => return Err("--identity-jwt needs --jwks-url or --jwks-file".into()),
    };
    let audience: Vec<String> = flags.audience.iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect();
    if audience.is_empty() {
        return Err("--identity-jwt needs --jwt-audience (the `aud` your gateway puts in its tokens)".into());
    }
    let algorithms = if flags.algorithms.is_empty() {
        default_algorithms
    } else {
        flags.algorithms.iter().map(|name| algorithm(name)).collect::<Result<_, _>>()?
    };
    let identity_claim = flags.identity_claim.trim();
    if identity_claim.is_empty() {
        return Err("--jwt-identity-claim must name a claim".into());
    }
    if flags.leeway > 300 {
        return Err(format!("--jwt-leeway {}: at most 300 seconds", flags.leeway));
    }
    Ok(Settings {
        header,
        bearer,
        issuer,
        audience,
        keys,
        algorithms,
        leeway: flags.leeway,
        identity_claim: identity_claim.to_owned(),
    })
}

/// HTTPS, or HTTP to a loopback address only: keys over plain HTTP could be
/// swapped by anyone on the path.
fn key_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("--jwks-url {raw}: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(format!("--jwks-url {raw}: use https:// (http:// only to a loopback address)")),
    }
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    let alg: Algorithm = name.trim().parse().map_err(|_| format!("--jwt-algorithms: unknown algorithm {name}"))?;
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Err(format!(
            "--jwt-algorithms: {name} is never accepted (HMAC needs a shared secret, and with a public key it lets anyone sign)"
        )),
        alg => Ok(alg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(identity_jwt: &str) -> Flags {
        Flags {
            identity_jwt: identity_jwt.into(),
            audience: vec!["aud-1".into()],
            identity_claim: "email".into(),
            leeway: 5,
            ..Default::default()
        }
    }

    #[test]
    fn each_preset_fills_in_its_header_issuer_and_keys() {
        let mut cf = flags("cloudflare-access");
        cf.issuer = Some("https://acme.cloudflareaccess.com/".into());
        let s = Settings::from_flags(&cf).unwrap();
        assert_eq!(
            (s.header.as_str(), s.issuer.as_str()),
            ("cf-access-jwt-assertion", "https://acme.cloudflareaccess.com")
        );
        assert_eq!(s.keys, KeySource::Url("https://acme.cloudflareaccess.com/cdn-cgi/access/certs".parse().unwrap()));
        let s = Settings::from_flags(&flags("google-iap")).unwrap();
        assert_eq!(
            (s.header.as_str(), s.issuer.as_str()),
            ("x-goog-iap-jwt-assertion", "https://cloud.google.com/iap")
        );
        assert_eq!(s.algorithms, vec![Algorithm::ES256]);
        let mut pomerium = flags("pomerium");
        pomerium.issuer = Some("db.example.com".into());
        let s = Settings::from_flags(&pomerium).unwrap();
        assert_eq!(s.header, "x-pomerium-jwt-assertion");
        assert_eq!(s.keys, KeySource::Url("https://db.example.com/.well-known/pomerium/jwks.json".parse().unwrap()));
        let mut oauth2 = flags("oauth2-proxy");
        oauth2.issuer = Some("https://accounts.example.com".into());
        oauth2.jwks_url = Some("https://accounts.example.com/keys".into());
        let s = Settings::from_flags(&oauth2).unwrap();
        assert!(s.bearer);
        assert_eq!(s.header, "authorization");
    }

    #[test]
    fn bad_flags_are_named() {
        let mut cf = flags("cloudflare-access");
        cf.issuer = Some("https://evil.example.com".into());
        assert!(Settings::from_flags(&cf).unwrap_err().contains("cloudflareaccess.com"));
        let mut no_aud = flags("google-iap");
        no_aud.audience.clear();
        assert!(Settings::from_flags(&no_aud).unwrap_err().contains("--jwt-audience"));
        let mut custom = flags("X-Identity");
        custom.issuer = Some("https://idp".into());
        assert!(Settings::from_flags(&custom).unwrap_err().contains("--jwks-url or --jwks-file"));
        custom.jwks_url = Some("http://keys.example.com/jwks".into());
        assert!(Settings::from_flags(&custom).unwrap_err().contains("https://"));
        custom.jwks_url = Some("http://127.0.0.1:9/jwks".into());
        assert!(Settings::from_flags(&custom).is_ok(), "plain HTTP to loopback is fine");
        custom.algorithms = vec!["HS256".into()];
        assert!(Settings::from_flags(&custom).unwrap_err().contains("never accepted"));
        custom.algorithms = vec!["none".into()];
        assert!(Settings::from_flags(&custom).unwrap_err().contains("unknown algorithm"));
        assert!(Settings::from_flags(&flags("bad header!")).unwrap_err().contains("header name"));
    }
}
