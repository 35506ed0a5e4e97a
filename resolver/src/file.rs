//! `file:///path/resources.toml`: resources in a TOML file, reloaded when it
//! changes.
//!
//! ```toml
//! # resource = database URL
//! acme = "postgres://acme:secret@db.internal/acme?sslmode=verify-full&sslrootcert=system"
//!
//! # or a table with the optional fields
//! [globex]
//! database_url = "postgres://globex_ro:secret@db.internal/globex"
//! readonly = true
//! label = "Globex (read-only)"
//! expires_at = "2030-01-01T00:00:00Z"
//!
//! # with a policy (see `Policy`)
//! [initech]
//! database_url = "postgres://initech:secret@db.internal/initech"
//! environment = "production"
//! statement_timeout = "30s"
//! max_rows = 1000
//! downloads = false
//! settings = { search_path = "initech, public", "app.tenant" = "initech" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::credential::Credential;
use crate::error::{BuildError, ResolveError};
use crate::{ResolveRequest, Resolver};

/// Resources and the answers they resolve to, each checked when read.
#[derive(Debug, Clone, Default)]
pub struct ResourceMap(BTreeMap<String, Map<String, Value>>);

impl ResourceMap {
    /// Parses the TOML text; an error names the line and the resource.
    pub fn parse(text: &str) -> Result<Self, String> {
        let entries: BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let mut map = BTreeMap::new();
        for (resource, spanned) in entries {
            let line = text[..spanned.span().start].matches('\n').count() + 1;
            let at = |message: String| format!("line {line}: resource \"{resource}\": {message}");
            let answer = match spanned.into_inner() {
                toml::Value::String(url) => Map::from_iter([("database_url".to_owned(), Value::String(url))]),
                toml::Value::Table(table) => table.into_iter().map(|(k, v)| (k, json(v))).collect(),
                other => return Err(at(format!("expected a URL string or a table, found {}", other.type_str()))),
            };
            Credential::from_answer(&answer).map_err(at)?;
            map.insert(resource, answer);
        }
        Ok(ResourceMap(map))
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, BuildError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| BuildError::Read { path: path.to_owned(), source })?;
        ResourceMap::parse(&text).map_err(|message| BuildError::ResourceMap { path: path.to_owned(), message })
    }

    /// The answer object for a resource, as a connect backend would send it.
    pub fn answer(&self, resource: &str) -> Option<&Map<String, Value>> {
        self.0.get(resource)
    }

    /// The credential for a resource, checked again (an `expires_at` may have passed).
    pub fn credential(&self, resource: &str) -> Result<Credential, ResolveError> {
        let answer = self.answer(resource).ok_or_else(|| ResolveError::UnknownResource(resource.to_owned()))?;
        Credential::from_answer(answer).map_err(|e| ResolveError::Invalid(format!("resource \"{resource}\": {e}")))
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// TOML to JSON; datetimes become their RFC 3339 text.
fn json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(json).collect()),
        toml::Value::Table(table) => Value::Object(table.into_iter().map(|(k, v)| (k, json(v))).collect()),
    }
}

/// What identifies a version of the file.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Resolves from a resource map file, re-reading it when it changes. A broken
/// edit keeps the last good map and logs why, once.
pub struct FileResolver {
    path: PathBuf,
    loaded: Mutex<(Arc<ResourceMap>, Stamp)>,
}

impl FileResolver {
    /// Reads the file now; a broken file is an error that points at the line.
    pub fn open(path: PathBuf) -> Result<Self, BuildError> {
        let seen = stamp(&path);
        let map = ResourceMap::load(&path)?;
        Ok(FileResolver { path, loaded: Mutex::new((Arc::new(map), seen)) })
    }

    /// The current map, reloaded first when the file changed.
    fn current(&self) -> Arc<ResourceMap> {
        let now = stamp(&self.path);
        let mut loaded = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if now != loaded.1 {
            loaded.1 = now;
            match ResourceMap::load(&self.path) {
                Ok(map) => {
                    tracing::info!(path = %self.path.display(), resources = map.len(), "resource map reloaded");
                    loaded.0 = Arc::new(map);
                }
                Err(e) => tracing::warn!("resource map not reloaded, keeping the previous one: {e}"),
            }
        }
        loaded.0.clone()
    }
}

#[async_trait::async_trait]
impl Resolver for FileResolver {
    async fn resolve(&self, request: &ResolveRequest) -> Result<Credential, ResolveError> {
        self.current().credential(&request.resource)
    }

    fn describe_request(&self, request: &ResolveRequest) -> String {
        format!("look up \"{}\" in {}", request.resource, self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn strings_and_tables() {
        let map = ResourceMap::parse(
            "a = \"postgres://a@h/a\"\n[b]\ndatabase_url = \"postgres://b@h/b\"\nreadonly = true\nlabel = \"B\"\nexpires_at = 2999-01-01T00:00:00Z\n",
        )
        .unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map.credential("a").unwrap().database_url.expose_secret(), "postgres://a@h/a");
        let b = map.credential("b").unwrap();
        assert!(b.readonly);
        assert_eq!(b.label.as_deref(), Some("B"));
        assert!(b.expires_at.is_some());
        assert!(matches!(map.credential("c"), Err(ResolveError::UnknownResource(r)) if r == "c"));
    }

    #[test]
    fn errors_point_at_the_line() {
        let err = ResourceMap::parse("a = \"postgres://a@h/a\"\n\n[b]\nreadonly = \"yes\"\ndatabase_url = \"x\"\n")
            .unwrap_err();
        assert_eq!(err, "line 3: resource \"b\": readonly must be true or false, not a string");
        let err = ResourceMap::parse("a = \"postgres://a@h/a\"\nb = 5\n").unwrap_err();
        assert_eq!(err, "line 2: resource \"b\": expected a URL string or a table, found integer");
        let err = ResourceMap::parse("a = \"unterminated\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}
