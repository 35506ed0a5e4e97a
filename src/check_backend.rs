//! `pgdoor check-backend`: ask the credential backend for a resource exactly
//! as `/connect` would, print the exchange with secrets redacted, then check
//! the database it names.

use std::process::ExitCode;

use pgdoor_proxy::session::{Caps, ConnectError, Connector, Policy};
use pgdoor_resolver::{BackendConfig, ResolveError, VerifiedIdentity, build};
use time::format_description::well_known::Rfc3339;

use crate::EXIT_USAGE;
use crate::check::{self, ms};
use crate::cli::CheckBackendArgs;
use crate::config;

/// The backend refused the resource (HTTP non-200, unknown resource, program exit status).
pub const EXIT_REFUSED: u8 = 2;
/// The backend could not be reached, timed out, or answered something unusable.
pub const EXIT_BACKEND: u8 = 3;
/// The `--jwt` token did not verify.
pub const EXIT_TOKEN: u8 = 4;

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
    // The same Connector /connect uses: the URL is read, defaulted and
    // made read-only exactly as a session's would be.
    let connector = Connector::new(resolver, names, false, false, Caps::none());
    let identity = match verified(&args).await {
        Ok(identity) => identity,
        Err(code) => return ExitCode::from(code),
    };
    let request = connector
        .request(&args.resource, |name| {
            args.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        })
        .with_identity(identity);
    println!("Request: {}", connector.describe(&request));
    let (grant, took) = connector.resolve(&request).await;
    let grant = match grant {
        Ok(grant) => grant,
        Err(ConnectError::Resolve(e)) => {
            eprintln!("pgdoor check-backend: FAILED: {e}");
            let code = match e {
                ResolveError::Refused { .. } | ResolveError::UnknownResource(_) => EXIT_REFUSED,
                _ => EXIT_BACKEND,
            };
            return ExitCode::from(code);
        }
        Err(e) => {
            eprintln!("pgdoor check-backend: FAILED at the database URL the backend gave: {e}");
            return ExitCode::from(EXIT_BACKEND);
        }
    };
    println!("Answer:  ok in {}", ms(took));
    println!("  database_url  {}", grant.shown_url);
    println!("  connects as   {}", grant.config);
    println!("  readonly      {}", grant.readonly);
    let expires_at = grant.expires_at.and_then(|t| t.format(&Rfc3339).ok());
    println!("  expires_at    {}", expires_at.as_deref().unwrap_or("-"));
    println!("  label         {}", grant.label.as_deref().unwrap_or("-"));
    print_policy(&grant.policy);
    check::report("check-backend", &grant.config, grant.readonly).await
}

/// The identity `--jwt`'s token verifies to, printed; `Err` holds the exit code.
async fn verified(args: &CheckBackendArgs) -> Result<Option<VerifiedIdentity>, u8> {
    let Some(path) = &args.jwt else { return Ok(None) };
    let verifier = match config::identity_jwt(&args.jwt_flags) {
        Ok(Some(verifier)) => verifier,
        Ok(None) => return Ok(None),
        Err(e) => {
            eprintln!("pgdoor check-backend: {e}");
            return Err(EXIT_USAGE);
        }
    };
    let token = match std::fs::read_to_string(path) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("pgdoor check-backend: --jwt {}: {e}", path.display());
            return Err(EXIT_USAGE);
        }
    };
    match verifier.verify(Some(token.trim())).await {
        Ok(verified) => {
            let who = &verified.claims;
            println!("Token:   verified: {} (issuer {})", verified.identity, who.issuer);
            println!("  subject {}, groups [{}]", who.subject.as_deref().unwrap_or("-"), who.groups.join(", "));
            Ok(Some(verified.claims))
        }
        Err(e) => {
            eprintln!("pgdoor check-backend: FAILED: {e}");
            Err(EXIT_TOKEN)
        }
    }
}

/// What the backend's answer asks of the session (before pgdoor's flags tighten it).
fn print_policy(policy: &Policy) {
    let duration =
        |d: Option<std::time::Duration>| d.map_or("-".to_owned(), |d| humantime::format_duration(d).to_string());
    let cap = |n: usize| if n == usize::MAX { "-".to_owned() } else { n.to_string() };
    println!("Policy (pgdoor's own flags can only tighten it):");
    println!("  statement_timeout  {}", duration(policy.statement_timeout));
    println!("  max_rows           {}", cap(policy.max_rows));
    println!("  max_result_bytes   {}", cap(policy.max_result_bytes));
    println!("  idle_timeout       {}", duration(policy.idle_timeout));
    println!("  lifetime           {}", duration(policy.lifetime));
    println!("  downloads          {}", policy.downloads);
    println!("  edits              {}", policy.edits);
    let settings: Vec<String> = policy.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("  settings           {}", if settings.is_empty() { "-".to_owned() } else { settings.join(", ") });
    println!("  environment        {}", policy.environment.as_deref().unwrap_or("-"));
}
