//! Catalog routes: schemas, objects, a table's columns, info, indexes and
//! constraints, functions, activity and settings. pgdoor's own reads, run on
//! the metadata connection with names bound as parameters.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::access;
use super::error::ApiError;
use super::export::{self, Format};
use super::query::result_json;
use super::sql::TableRef;
use crate::app::App;
use crate::http::{Request, Response};
use crate::session::Session;

/// Schemas every listing leaves out.
const SYSTEM_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// The five kinds pgweb's objects map always has.
const KINDS: [&str; 5] = ["table", "view", "materialized_view", "function", "sequence"];

/// Runs a catalog statement and answers with pgweb's result object.
async fn result(
    app: &App,
    session: &Session,
    request: &Request,
    sql: &str,
    params: &[Option<&str>],
) -> Result<Response, ApiError> {
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let set = access::catalog(app, session, request, sql, params).await?;
    Ok(Response::json(200, &result_json(set, started_at, started.elapsed())))
}

/// Reads the `:table` part of a route.
pub fn table(raw: &str) -> Result<TableRef, ApiError> {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    TableRef::parse(&decoded).ok_or_else(|| ApiError::BadParam(format!("\"{decoded}\" is not a table name")))
}

/// `GET /api/schemas`.
pub async fn schemas(app: &App, session: &Session, request: &Request) -> Result<Response, ApiError> {
    let sql = format!(
        "SELECT n.nspname FROM pg_namespace n WHERE {SYSTEM_SCHEMAS} AND has_schema_privilege(n.oid, 'USAGE') ORDER BY 1"
    );
    let set = access::catalog(app, session, request, &sql, &[]).await?;
    let names: Vec<Value> = set.rows.into_iter().filter_map(|mut row| row.pop()).collect();
    Ok(Response::json(200, &names))
}

/// A relation's kind as the objects map names it.
const RELKIND_NAME: &str = "CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view' \
     WHEN 'S' THEN 'sequence' ELSE 'table' END";

/// The objects a person can browse: `oid`, schema, name, kind.
fn listing() -> String {
    format!(
        "SELECT c.oid::text AS oid, n.nspname, c.relname AS name, {RELKIND_NAME} AS kind \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {SYSTEM_SCHEMAS} AND has_schema_privilege(n.oid, 'USAGE') \
         UNION ALL \
         SELECT p.oid::text, n.nspname, p.proname, 'function' \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE {SYSTEM_SCHEMAS} AND has_schema_privilege(n.oid, 'USAGE')"
    )
}

/// The entry of `schema` and `kind` in a `{schema: {kind: T}}` answer, every
/// kind of a new schema starting `empty()`; `None` for a row without them.
fn slot_of<'a, T>(
    map: &'a mut BTreeMap<String, BTreeMap<&'static str, T>>,
    schema: &Value,
    kind: &Value,
    empty: impl Fn() -> T,
) -> Option<&'a mut T> {
    let (schema, kind) = (schema.as_str()?, kind.as_str()?);
    let kinds = map.entry(schema.to_owned()).or_insert_with(|| KINDS.iter().map(|k| (*k, empty())).collect());
    let slot = KINDS.iter().find(|k| **k == kind).copied().unwrap_or("table");
    kinds.get_mut(slot)
}

/// The most objects one search answers.
const MAX_SEARCH: usize = 500;

/// `GET /api/objects`: `{schema: {kind: [{oid, name}]}}`, `oid` as a string;
/// with `schema`, that schema's only. With `summary=true`, only how many of
/// each kind every schema holds; with `search`, the objects whose name holds
/// it, `{"objects": {...}, "more": bool}`, `limit` (default 200, at most 500)
/// at most. Catalogs of many thousand objects are read a schema at a time.
pub async fn objects(app: &App, session: &Session, request: &Request) -> Result<Response, ApiError> {
    // Every parameter is checked, whichever answer it is for.
    let limit = match request.param("limit") {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_SEARCH).contains(n))
            .ok_or_else(|| ApiError::BadParam(format!("limit must be a number from 1 to {MAX_SEARCH}")))?,
        None => 200,
    };
    let summary = match request.param("summary").as_deref() {
        None => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::BadParam(format!("summary must be true, not \"{other}\""))),
    };
    if summary {
        // Counted per schema first, so the schema's rules are checked once per schema, not per object.
        let sql = format!(
            "SELECT n.nspname, k.kind, k.count FROM ( \
               SELECT c.relnamespace AS ns, {RELKIND_NAME} AS kind, count(*)::int8 FROM pg_class c \
               WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') GROUP BY 1, 2 \
               UNION ALL SELECT p.pronamespace, 'function', count(*)::int8 FROM pg_proc p GROUP BY 1) k \
             JOIN pg_namespace n ON n.oid = k.ns \
             WHERE {SYSTEM_SCHEMAS} AND has_schema_privilege(n.oid, 'USAGE') ORDER BY 1"
        );
        let set = access::catalog(app, session, request, &sql, &[]).await?;
        let mut counts: BTreeMap<String, BTreeMap<&str, Value>> = BTreeMap::new();
        for row in set.rows {
            let [schema, kind, n] = <[Value; 3]>::try_from(row).map_err(|_| ApiError::NotFound)?;
            if let Some(slot) = slot_of(&mut counts, &schema, &kind, || json!(0)) {
                *slot = n;
            }
        }
        return Ok(Response::json(200, &counts));
    }
    let schema = request.param("schema");
    let search = request.param("search").filter(|s| !s.is_empty());
    // One past the limit says whether there are more.
    let cap = search.as_ref().map(|_| (limit + 1).to_string());
    let sql = format!(
        "SELECT o.oid, o.nspname, o.name, o.kind FROM ({}) o \
         WHERE ($1::text IS NULL OR o.nspname = $1) AND ($2::text IS NULL OR strpos(lower(o.name), lower($2)) > 0) \
         ORDER BY 2, 3 LIMIT $3::int8",
        listing()
    );
    let params = [schema.as_deref(), search.as_deref(), cap.as_deref()];
    // No name holds a NUL byte (PostgreSQL refuses one as text): such a schema or search matches nothing.
    let set = if [&schema, &search].into_iter().flatten().any(|name| name.contains('\0')) {
        crate::pg::ResultSet::default()
    } else {
        access::catalog(app, session, request, &sql, &params).await?
    };
    let more = search.is_some() && set.rows.len() > limit;
    let mut grouped: BTreeMap<String, BTreeMap<&str, Vec<Value>>> = BTreeMap::new();
    for row in set.rows.into_iter().take(if search.is_some() { limit } else { usize::MAX }) {
        let [oid, schema, name, kind] = <[Value; 4]>::try_from(row).map_err(|_| ApiError::NotFound)?;
        if let Some(list) = slot_of(&mut grouped, &schema, &kind, Vec::new) {
            list.push(json!({"oid": oid, "name": name}));
        }
    }
    if search.is_some() {
        return Ok(Response::json(200, &json!({"objects": grouped, "more": more})));
    }
    Ok(Response::json(200, &grouped))
}

/// `GET /api/tables/:table` (columns), or a function's definition with `type=function`.
pub async fn columns(app: &App, session: &Session, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let table = table(raw)?;
    let sql = "SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type, \
         CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable, \
         CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 0 THEN a.atttypmod - 4 END AS character_maximum_length, \
         NULL::text AS character_set_catalog, pg_get_expr(d.adbin, d.adrelid) AS column_default, \
         col_description(c.oid, a.attnum) AS comment \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
    result(app, session, request, sql, &[Some(&table.schema), Some(&table.name)]).await
}

/// `GET /api/functions/:id` (and `tables/:id?type=function`): the definition by OID.
pub async fn function(app: &App, session: &Session, request: &Request, id: &str) -> Result<Response, ApiError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadParam(format!("\"{id}\" is not a function id")));
    }
    if id.parse::<u32>().is_err() {
        // Beyond the range of an OID: no function has it.
        return Err(ApiError::NotFound);
    }
    let sql = "SELECT p.oid::text AS oid, p.proname, p.pronamespace::regnamespace::text AS pronamespace, \
         pg_get_userbyid(p.proowner) AS proowner, \
         CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END AS functiondef \
         FROM pg_proc p WHERE p.oid = $1::oid";
    result(app, session, request, sql, &[Some(id)]).await
}

/// `GET /api/tables/:table/info`: sizes and the planner's row estimate.
pub async fn info(app: &App, session: &Session, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let table = table(raw)?;
    let sql = "SELECT pg_size_pretty(pg_table_size(c.oid)) AS data_size, \
         pg_size_pretty(pg_indexes_size(c.oid)) AS index_size, \
         pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size, c.reltuples::bigint AS rows_count \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2";
    let set = access::catalog(app, session, request, sql, &[Some(&table.schema), Some(&table.name)]).await?;
    let row = set.rows.into_iter().next().ok_or_else(|| ApiError::NoSuchTable(table.quoted()))?;
    let object: serde_json::Map<String, Value> = set.columns.iter().map(|c| c.name.clone()).zip(row).collect();
    Ok(Response::json(200, &object))
}

/// `GET /api/tables/:table/indexes`.
pub async fn indexes(app: &App, session: &Session, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let table = table(raw)?;
    let sql = "SELECT i.indexname AS index_name, \
         pg_size_pretty(pg_relation_size(format('%I.%I', i.schemaname, i.indexname)::regclass)) AS index_size, \
         i.indexdef AS index_definition FROM pg_indexes i WHERE i.schemaname = $1 AND i.tablename = $2 ORDER BY 1";
    result(app, session, request, sql, &[Some(&table.schema), Some(&table.name)]).await
}

/// `GET /api/tables/:table/constraints`.
pub async fn constraints(app: &App, session: &Session, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let table = table(raw)?;
    let sql = "SELECT con.conname AS name, pg_get_constraintdef(con.oid, true) AS definition \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND con.contype <> 'n' ORDER BY con.contype DESC, con.conname";
    result(app, session, request, sql, &[Some(&table.schema), Some(&table.name)]).await
}

/// `GET /api/activity`: this database's backends.
pub async fn activity(app: &App, session: &Session, request: &Request) -> Result<Response, ApiError> {
    let sql = "SELECT * FROM pg_stat_activity WHERE datname = current_database() ORDER BY backend_start";
    result(app, session, request, sql, &[]).await
}

/// `GET /api/server_settings`.
pub async fn server_settings(app: &App, session: &Session, request: &Request) -> Result<Response, ApiError> {
    result(app, session, request, "SELECT * FROM pg_settings ORDER BY name", &[]).await
}

/// `GET /api/tables_stats`: sizes, row estimates and counts of every table, as
/// pgweb's result object (`format=json`, the default) or a CSV/XML download
/// (`export=true` names it `pgweb-dbstats-<db>-<date>.<format>`).
pub async fn tables_stats(app: &App, session: &Session, request: &Request) -> Result<Response, ApiError> {
    let format = Format::from_request(request)?;
    let sql = format!(
        "SELECT n.nspname AS schema_name, c.relname AS table_name, \
         pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size, \
         pg_size_pretty(pg_table_size(c.oid)) AS data_size, pg_size_pretty(pg_indexes_size(c.oid)) AS index_size, \
         CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS estimated_rows_count, \
         CASE WHEN c.reltuples < 0 THEN NULL WHEN c.reltuples < 1000 THEN c.reltuples::bigint::text \
              WHEN c.reltuples < 1000000 THEN round(c.reltuples / 1000)::text || 'K' \
              ELSE round(c.reltuples / 1000000)::text || 'M' END AS estimated_rows, \
         CASE WHEN c.reltuples > 1000 THEN round(pg_indexes_size(c.oid)::numeric / nullif(pg_table_size(c.oid), 0), 2) \
              END AS index_to_data_ratio, \
         (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) AS indexes_count, \
         (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) \
              AS columns_count \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND {SYSTEM_SCHEMAS} AND has_schema_privilege(n.oid, 'USAGE') ORDER BY 1, 2"
    );
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let set = access::catalog(app, session, request, &sql, &[]).await?;
    let format = match format {
        None | Some(Format::Json) => return Ok(Response::json(200, &result_json(set, started_at, started.elapsed()))),
        Some(format) => format,
    };
    let columns: Vec<String> = set.columns.iter().map(|c| c.name.clone()).collect();
    let response = Response::new(200, format.content_type(), export::render(format, &columns, &set.rows));
    if request.param("export").as_deref() != Some("true") {
        return Ok(response);
    }
    let db: String = session.database.chars().filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c)).collect();
    let date = started_at.date();
    let filename = format!("pgweb-dbstats-{db}-{date}.{}", format.extension());
    Ok(response.header("content-disposition", format!("attachment; filename=\"{filename}\"")))
}
