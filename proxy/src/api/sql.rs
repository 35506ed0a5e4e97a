//! The one place identifiers are turned into SQL: quoting, and reading the
//! `schema.table` names pgweb's routes use.

/// Quotes an identifier for PostgreSQL: `"` around it, inner `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table (or view, ...) named in a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Schema, `public` when not given.
    pub schema: String,
    /// Name.
    pub name: String,
}

impl TableRef {
    /// Reads `schema.name`, `name` (schema public), or the quoted form
    /// `"my schema"."my.table"` that pgweb's frontend sends for exports.
    pub fn parse(text: &str) -> Option<TableRef> {
        let parts = split_identifiers(text)?;
        match parts.as_slice() {
            [name] => Some(TableRef { schema: "public".into(), name: name.clone() }),
            [schema, name] => Some(TableRef { schema: schema.clone(), name: name.clone() }),
            // pgweb's rule: only the first two parts count.
            [schema, name, ..] => Some(TableRef { schema: schema.clone(), name: name.clone() }),
            [] => None,
        }
    }

    /// `"schema"."name"`.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Splits on dots outside double quotes; quoted parts keep their dots and case.
fn split_identifiers(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted_part = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if current.is_empty() && !quoted_part => {
                quoted_part = true;
                loop {
                    match chars.next()? {
                        '"' if chars.peek() == Some(&'"') => {
                            chars.next();
                            current.push('"');
                        }
                        '"' => break,
                        other => current.push(other),
                    }
                }
            }
            '.' => {
                parts.push(std::mem::take(&mut current));
                quoted_part = false;
            }
            // Text after a closing quote, before the dot.
            _ if quoted_part => return None,
            other => current.push(other),
        }
    }
    parts.push(current);
    if parts.iter().any(String::is_empty) {
        return None;
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(schema: &str, name: &str) -> Option<TableRef> {
        Some(TableRef { schema: schema.into(), name: name.into() })
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("we\"ird; DROP"), "\"we\"\"ird; DROP\"");
        assert_eq!(TableRef::parse("a.b").unwrap().quoted(), "\"a\".\"b\"");
    }

    #[test]
    fn table_names_in_every_form() {
        assert_eq!(TableRef::parse("books"), t("public", "books"));
        assert_eq!(TableRef::parse("shop.books"), t("shop", "books"));
        assert_eq!(TableRef::parse("a.b.c"), t("a", "b"));
        assert_eq!(TableRef::parse("\"My Schema\".\"odd.\"\"name\""), t("My Schema", "odd.\"name"));
        assert_eq!(TableRef::parse("\"x\"junk.b"), None);
        assert_eq!(TableRef::parse(""), None);
        assert_eq!(TableRef::parse("a."), None);
        assert_eq!(TableRef::parse("\"unterminated"), None);
    }
}
