//! The libpq password file (`~/.pgpass` or `PGPASSFILE`): lines of
//! `host:port:database:user:password`, `*` matching anything, `\` escaping
//! `:` and `\`. The first matching line wins.

use std::path::Path;

/// The password for this connection from the file, if a line matches.
///
/// A missing or unreadable file, or one that others may read (as libpq
/// checks), yields `None`.
pub(crate) fn lookup(path: &Path, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    if !private_enough(path) {
        tracing::warn!(
            path = %path.display(),
            "password file ignored: it must not be readable by group or others (chmod 0600)"
        );
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let port = port.to_string();
    let wanted = [host, port.as_str(), dbname, user];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(split_line)
        .find(|fields| fields[..4].iter().zip(wanted).all(|(field, want)| field == "*" || field == want))
        .map(|mut fields| fields.pop().unwrap_or_default())
}

/// Splits one line into its five fields, or `None` when it has fewer.
fn split_line(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut()?.push(chars.next().unwrap_or('\\')),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    (fields.len() == 5).then_some(fields)
}

#[cfg(unix)]
fn private_enough(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
fn private_enough(_: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn passfile(text: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn first_matching_line_wins_and_wildcards_match() {
        let file =
            passfile("# comment\nother:5432:*:alice:nope\ndb.local:5432:app:alice:first\n*:*:*:alice:second\n", 0o600);
        assert_eq!(lookup(file.path(), "db.local", 5432, "app", "alice").as_deref(), Some("first"));
        assert_eq!(lookup(file.path(), "db.local", 5433, "app", "alice").as_deref(), Some("second"));
        assert_eq!(lookup(file.path(), "db.local", 5432, "app", "bob"), None);
    }

    #[test]
    fn escapes_colons_and_backslashes() {
        let file = passfile("h:1:d:u:pa\\:ss\\\\word\nh\\:x:1:d:u:other\n", 0o600);
        assert_eq!(lookup(file.path(), "h", 1, "d", "u").as_deref(), Some("pa:ss\\word"));
        assert_eq!(lookup(file.path(), "h:x", 1, "d", "u").as_deref(), Some("other"));
    }

    #[test]
    fn a_file_others_can_read_is_ignored() {
        let file = passfile("*:*:*:*:secret\n", 0o644);
        assert_eq!(lookup(file.path(), "h", 1, "d", "u"), None);
    }

    #[test]
    fn short_lines_are_skipped() {
        let file = passfile("h:1:d:u\n*:*:*:*:ok\n", 0o600);
        assert_eq!(lookup(file.path(), "h", 1, "d", "u").as_deref(), Some("ok"));
    }
}
