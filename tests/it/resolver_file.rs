//! The file resolver: reload on change, a broken edit keeping the last good
//! map, a broken file at startup pointing at the line.

use pgdoor_resolver::{FileResolver, ResolveError, ResolveRequest, Resolver};
use secrecy::ExposeSecret;

async fn url_of(resolver: &FileResolver, resource: &str) -> Result<String, ResolveError> {
    resolver.resolve(&ResolveRequest::new(resource)).await.map(|c| c.database_url.expose_secret().to_owned())
}

#[tokio::test]
async fn reloads_when_the_file_changes_and_keeps_the_last_good_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resources.toml");
    std::fs::write(&path, "acme = \"postgres://a@h/one\"\n").unwrap();
    let resolver = FileResolver::open(path.clone()).unwrap();
    assert_eq!(url_of(&resolver, "acme").await.unwrap(), "postgres://a@h/one");
    assert!(matches!(url_of(&resolver, "globex").await, Err(ResolveError::UnknownResource(r)) if r == "globex"));

    std::fs::write(
        &path,
        "acme = \"postgres://a@h/two\"\n[globex]\ndatabase_url = \"postgres://g@h/g\"\nreadonly = true\n",
    )
    .unwrap();
    assert_eq!(url_of(&resolver, "acme").await.unwrap(), "postgres://a@h/two");
    assert!(resolver.resolve(&ResolveRequest::new("globex")).await.unwrap().readonly);

    // A broken edit: the previous map stays in force.
    std::fs::write(&path, "acme = \"postgres://a@h/three\"\nglobex = [broken\n").unwrap();
    assert_eq!(url_of(&resolver, "acme").await.unwrap(), "postgres://a@h/two");

    // Fixed again: picked up.
    std::fs::write(&path, "acme = \"postgres://a@h/four\"\n").unwrap();
    assert_eq!(url_of(&resolver, "acme").await.unwrap(), "postgres://a@h/four");
}

#[test]
fn a_broken_file_at_startup_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resources.toml");
    std::fs::write(&path, "acme = \"postgres://a@h/one\"\n\n[globex]\nexpires_at = \"soon\"\ndatabase_url = \"x\"\n")
        .unwrap();
    let err = FileResolver::open(path.clone()).err().unwrap().to_string();
    assert!(err.starts_with(&format!("{}: line 3: resource \"globex\": expires_at \"soon\"", path.display())), "{err}");

    let err = FileResolver::open(dir.path().join("missing.toml")).err().unwrap().to_string();
    assert!(err.contains("missing.toml") && err.contains("No such file"), "{err}");
}
