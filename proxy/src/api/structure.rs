//! `GET /api/tables/:table/structure`: what a person wants to know of a
//! relation, in one answer: its columns with their keys, references,
//! defaults and comments; its constraints; the foreign keys that point at
//! it; a view's definition; a sequence's settings. One catalog statement,
//! names bound as parameters, the JSON built by the server.

use serde_json::Value;

use super::access;
use super::catalog::table;
use super::error::ApiError;
use crate::app::App;
use crate::http::{Request, Response};
use crate::session::Session;

/// The relation named by `$1`.`$2` as one JSON object, or no row.
const STRUCTURE: &str = "\
WITH rel AS (
  SELECT c.oid, c.relkind, c.relispopulated, n.nspname, c.relname
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')),
names AS (
  -- A constraint's columns by name, in the constraint's order.
  SELECT con.oid, con.conname, con.contype, con.conrelid, con.confrelid, con.conkey,
    (SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord) FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY k(num, ord)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num) AS columns,
    (SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord) FROM pg_catalog.unnest(con.confkey) WITH ORDINALITY k(num, ord)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num) AS target_columns
  FROM pg_catalog.pg_constraint con, rel
  WHERE con.conrelid = rel.oid OR (con.confrelid = rel.oid AND con.contype = 'f')),
foreign_keys AS (
  SELECT k.*, tn.nspname AS target_schema, tc.relname AS target_table
  FROM names k JOIN pg_catalog.pg_class tc ON tc.oid = k.confrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
  WHERE k.contype = 'f' AND k.conrelid = (SELECT oid FROM rel))
SELECT pg_catalog.json_build_object(
  'schema', rel.nspname, 'name', rel.relname,
  'kind', CASE rel.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view' WHEN 'S' THEN 'sequence'
          WHEN 'f' THEN 'foreign_table' ELSE 'table' END,
  'comment', pg_catalog.obj_description(rel.oid, 'pg_class'),
  'columns', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
      'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'nullable', NOT a.attnotnull,
      'default', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
      'generated', CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
      'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
      'comment', pg_catalog.col_description(rel.oid, a.attnum),
      'primary_key', (SELECT pg_catalog.array_position(k.conkey, a.attnum) FROM names k
                      WHERE k.conrelid = rel.oid AND k.contype = 'p'),
      'unique', (SELECT pg_catalog.json_agg(k.columns) FROM names k
                 WHERE k.conrelid = rel.oid AND k.contype = 'u' AND a.attnum = ANY(k.conkey)),
      'references', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('constraint', f.conname,
                        'schema', f.target_schema, 'table', f.target_table,
                        'column', f.target_columns->>(pg_catalog.array_position(f.conkey, a.attnum) - 1)))
                     FROM foreign_keys f WHERE a.attnum = ANY(f.conkey))
    ) ORDER BY a.attnum), '[]')
    FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'constraints', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', k.conname,
      'type', CASE k.contype WHEN 'p' THEN 'primary_key' WHEN 'u' THEN 'unique' WHEN 'f' THEN 'foreign_key'
              WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' ELSE 'other' END,
      'columns', k.columns, 'definition', pg_catalog.pg_get_constraintdef(k.oid, true))
      ORDER BY pg_catalog.strpos('pufcx', k.contype), k.conname), '[]')
    FROM names k WHERE k.conrelid = rel.oid AND k.contype IN ('p', 'u', 'f', 'c', 'x')),
  'foreign_keys', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', f.conname,
      'columns', f.columns, 'schema', f.target_schema, 'table', f.target_table, 'target_columns', f.target_columns)
      ORDER BY f.conname), '[]') FROM foreign_keys f),
  'referenced_by', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', k.conname,
      'schema', sn.nspname, 'table', sc.relname, 'columns', k.columns, 'target_columns', k.target_columns,
      'readable', pg_catalog.has_table_privilege(sc.oid, 'SELECT'))
      ORDER BY sn.nspname, sc.relname, k.conname), '[]')
    FROM names k JOIN pg_catalog.pg_class sc ON sc.oid = k.conrelid JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace
    WHERE k.contype = 'f' AND k.confrelid = rel.oid),
  'definition', CASE WHEN rel.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(rel.oid, true) END,
  'populated', CASE WHEN rel.relkind = 'm' THEN rel.relispopulated END,
  'sequence', (SELECT pg_catalog.json_build_object('data_type', pg_catalog.format_type(s.seqtypid, NULL),
      'start', s.seqstart, 'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache,
      'cycle', s.seqcycle,
      'last_value', CASE WHEN pg_catalog.has_sequence_privilege(rel.oid, 'SELECT,USAGE')
                         THEN pg_catalog.pg_sequence_last_value(rel.oid) END,
      'owned_by', (SELECT pg_catalog.json_build_object('schema', dn.nspname, 'table', dc.relname, 'column', da.attname)
                   FROM pg_catalog.pg_depend dep
                   JOIN pg_catalog.pg_class dc ON dc.oid = dep.refobjid
                   JOIN pg_catalog.pg_namespace dn ON dn.oid = dc.relnamespace
                   JOIN pg_catalog.pg_attribute da ON da.attrelid = dep.refobjid AND da.attnum = dep.refobjsubid
                   WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = rel.oid
                     AND dep.refclassid = 'pg_catalog.pg_class'::regclass AND dep.deptype IN ('a', 'i') LIMIT 1))
    FROM pg_catalog.pg_sequence s WHERE s.seqrelid = rel.oid)
)::text FROM rel";

/// `GET /api/tables/:table/structure`.
pub async fn structure(app: &App, session: &Session, request: &Request, raw: &str) -> Result<Response, ApiError> {
    let table = table(raw)?;
    let set = access::catalog(app, session, request, STRUCTURE, &[Some(&table.schema), Some(&table.name)]).await?;
    let text = set.rows.first().and_then(|row| row.first()).and_then(Value::as_str);
    let text = text.ok_or_else(|| ApiError::NoSuchTable(table.quoted()))?;
    // The server built the JSON: it goes out as it came.
    Ok(Response::new(200, "application/json; charset=utf-8", text.to_owned()))
}
