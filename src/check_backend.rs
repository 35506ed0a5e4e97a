//! `pgdoor check-backend`: ask the credential backend for a resource exactly
//! as `/connect` would, print the exchange with secrets redacted, then check
//! the database it names.

use std::process::ExitCode;
use std::time::Instant;

use pgdoor_proxy::pg::Config;
use pgdoor_resolver::{BackendConfig, ResolveError, ResolveRequest, build};
use secrecy::ExposeSecret;
use time::format_description::well_known::Rfc3339;

use crate::EXIT_USAGE;
use crate::check::{self, ms};
use crate::cli::CheckBackendArgs;
use crate::config;

/// The backend refused the resource (HTTP non-200, unknown resource, program exit status).
pub const EXIT_REFUSED: u8 = 2;
/// The backend could not be reached, timed out, or answered something unusable.
pub const EXIT_BACKEND: u8 = 3;

/// Runs the check; exit 0, [`EXIT_REFUSED`], [`EXIT_BACKEND`], the database
/// check's code, or 64 for bad flags.
pub async fn run(args: CheckBackendArgs) -> ExitCode {
    let backend = match config::backend(&args.backend)
        .and_then(|b| b.ok_or(config::ConfigError::Required("--connect-backend")))
    {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("pgdoor check-backend: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let names = match &backend {
        BackendConfig::Http(http) => http.headers.clone(),
        BackendConfig::Exec { headers, .. } => headers.clone(),
        BackendConfig::File { .. } | BackendConfig::Static { .. } => Vec::new(),
    };
    let resolver = match build(backend) {
        Ok(resolver) => resolver,
        Err(e) => {
            eprintln!("pgdoor check-backend: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let request = ResolveRequest::with_headers(&args.resource, &names, |name| {
        args.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    });
    println!("Request: {}", resolver.describe_request(&request));
    let started = Instant::now();
    let credential = match resolver.resolve(&request).await {
        Ok(credential) => credential,
        Err(e) => {
            eprintln!("pgdoor check-backend: FAILED after {}: {e}", ms(started.elapsed()));
            let code = match e {
                ResolveError::Refused { .. } | ResolveError::UnknownResource(_) => EXIT_REFUSED,
                _ => EXIT_BACKEND,
            };
            return ExitCode::from(code);
        }
    };
    println!("Answer:  ok in {}", ms(started.elapsed()));
    println!("  database_url  {}", credential.redacted_url());
    println!("  readonly      {}", credential.readonly);
    let expires_at = credential.expires_at.and_then(|t| t.format(&Rfc3339).ok());
    println!("  expires_at    {}", expires_at.as_deref().unwrap_or("-"));
    println!("  label         {}", credential.label.as_deref().unwrap_or("-"));
    let database: Config = match credential.database_url.expose_secret().parse() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("pgdoor check-backend: FAILED at the database URL the backend gave: {e}");
            return ExitCode::from(EXIT_BACKEND);
        }
    };
    check::report("check-backend", &database).await
}
