// What completion offers at the cursor, so that what it inserts runs: the
// relations of the statement (FROM, JOIN, UPDATE, INTO, with their aliases)
// and their columns; names qualified by their schema when the search path
// would not find them; after FROM and JOIN, tables and views first; after
// `alias.`, that relation's columns.

import { tokenize, statementAt, KEYWORDS } from './sql.js';

const RELATION_KINDS = ['table', 'view', 'materialized_view'];
/** Words after which a relation name comes. */
const BEFORE_RELATION = new Set(['from', 'join', 'into', 'update', 'table', 'only']);
/** Words after which a column (or an expression) comes. */
const BEFORE_COLUMN = new Set(['select', 'where', 'and', 'or', 'on', 'by', 'set', 'having', 'not', 'when', 'then', 'else', 'distinct', 'returning']);
/** Words that end a FROM list. */
const END_OF_FROM = new Set(['where', 'group', 'order', 'having', 'limit', 'offset', 'on', 'using', 'window', 'union', 'intersect', 'except', 'returning', 'set', 'values', 'select', 'for']);
const WORDY = new Set(['word', 'kw', 'ident']);
/** PostgreSQL's reserved words (and those reserved as names of columns and tables): a name spelt so needs quotes. */
const RESERVED = new Set(`all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
collation column concurrently constraint create cross current_catalog current_date current_role current_schema current_time
current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign freeze from full
grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit localtime
localtimestamp natural not notnull null offset on only or order outer overlaps placing primary references returning right
select session_user similar some symmetric system_user table tablesample then to trailing true union unique user using
variadic verbose when where window with`.split(/\s+/));

/** A name as SQL: bare when PostgreSQL would read it back unchanged, else quoted. */
export function sqlName(name) {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

const significant = (text) => tokenize(text).filter((t) => t.type !== 'ws' && t.type !== 'comment');

/** True when the tokens end inside a FROM list (where a comma brings another relation). */
function inFromList(tokens) {
  let open = false;
  for (const t of tokens) {
    const word = t.type === 'kw' ? t.text.toLowerCase() : null;
    if (word === 'from') open = true;
    else if (word && END_OF_FROM.has(word)) open = false;
  }
  return open;
}

/** The name a token stands for: quotes removed, or folded to lower case. */
const nameOf = (token) => (token.type === 'ident' ? token.text.slice(1, -1).replaceAll('""', '"') : token.text.toLowerCase());

/** The search path from `current_schemas(false)::text`, e.g. `{public,"my schema"}`. */
export function searchPath(text) {
  const inner = (text || '').replace(/^\{|\}$/g, '');
  return inner ? inner.match(/"(?:[^"]|"")*"|[^,]+/g).map((s) => (s.startsWith('"') ? s.slice(1, -1).replaceAll('""', '"') : s)) : [];
}

/** Where `name` lives: the schema given, else the first on the path that has it, else any. */
function resolve(catalog, path, schema, name) {
  const has = (s) => catalog[s] && RELATION_KINDS.some((k) => catalog[s][k].some((o) => o.name === name));
  if (schema) return has(schema) ? { schema, name } : null;
  const found = path.find(has) || Object.keys(catalog).find(has);
  return found ? { schema: found, name } : null;
}

/**
 * The relations a statement names, `{schema, name, alias}`: after FROM (and
 * the commas of its list), JOIN, UPDATE and INTO.
 */
export function relationsIn(tokens, catalog, path) {
  const found = [];
  let inFrom = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const word = t.type === 'kw' ? t.text.toLowerCase() : null;
    if (word && END_OF_FROM.has(word)) inFrom = false;
    const starts = (word && ['from', 'join', 'update', 'into'].includes(word)) || (inFrom && t.text === ',');
    if (word === 'from') inFrom = true;
    if (!starts) continue;
    let j = i + 1;
    if (tokens[j]?.type === 'kw' && ['only', 'lateral'].includes(tokens[j].text.toLowerCase())) j++;
    if (!tokens[j] || !WORDY.has(tokens[j].type)) continue;
    let schema = null;
    let name = nameOf(tokens[j]);
    if (tokens[j + 1]?.text === '.' && tokens[j + 2] && WORDY.has(tokens[j + 2].type)) {
      schema = name;
      name = nameOf(tokens[j + 2]);
      j += 2;
    }
    j++;
    if (tokens[j]?.type === 'kw' && tokens[j].text.toLowerCase() === 'as') j++;
    const alias = tokens[j] && (tokens[j].type === 'word' || tokens[j].type === 'ident') ? nameOf(tokens[j]) : null;
    const where = resolve(catalog, path, schema, name);
    if (where) found.push({ ...where, alias });
  }
  return found;
}

/** The word being typed at the end of `before`, and the name before its dot (unquoted), if any. */
export function wordBefore(before) {
  const match = before.match(/(?:("(?:[^"]|"")*"|[\p{L}_][\p{L}\p{N}_$]*)\.)?([\p{L}_][\p{L}\p{N}_$]*)?$/u);
  const qualifier = match[1] ? nameOf({ type: match[1].startsWith('"') ? 'ident' : 'word', text: match[1] }) : null;
  return { qualifier, word: match[2] || '' };
}

/**
 * The completions for the word before `offset`, best first: `{label, insert, kind}`.
 * `columnsOf({schema, name})` resolves to a relation's column names.
 */
export async function suggest({ sql, offset, catalog, path, columnsOf }) {
  const before = sql.slice(0, offset);
  const { qualifier, word: typed } = wordBefore(before);
  const lower = typed.toLowerCase();
  const starts = (name) => name.toLowerCase().startsWith(lower) && name !== typed;
  const statement = statementAt(sql, offset);
  const scope = relationsIn(significant(statement.text), catalog, path);
  const columnsFor = async (relation) => (await columnsOf(relation)).filter(starts).map((c) => ({ label: c, insert: sqlName(c), kind: 'column' }));

  if (qualifier) {
    const relation = scope.find((r) => r.alias === qualifier) || scope.find((r) => r.name === qualifier)
      || resolve(catalog, path, null, qualifier);
    if (relation) return columnsFor(relation);
    if (catalog[qualifier]) {
      return RELATION_KINDS.flatMap((k) => catalog[qualifier][k]).map((o) => o.name).filter(starts)
        .map((n) => ({ label: n, insert: sqlName(n), kind: 'relation' }));
    }
    return [];
  }

  // The token before the word being typed says what may come.
  const head = significant(sql.slice(Math.min(statement.start, offset - typed.length), offset - typed.length));
  const prior = head.at(-1);
  const priorWord = prior?.type === 'kw' ? prior.text.toLowerCase() : prior?.text;
  const wantsRelation = BEFORE_RELATION.has(priorWord) || (priorWord === ',' && inFromList(head));
  const wantsColumn = !wantsRelation && (BEFORE_COLUMN.has(priorWord) || [',', '(', '=', '<', '>', '+', '-', '*', '/'].includes(priorWord));

  const relations = [];
  for (const [schema, kinds] of Object.entries(catalog)) {
    for (const kind of RELATION_KINDS) {
      for (const o of kinds[kind]) {
        if (!starts(o.name)) continue;
        const visible = resolve(catalog, path, null, o.name)?.schema === schema && path.includes(schema);
        relations.push({ label: visible ? o.name : `${schema}.${o.name}`, insert: visible ? sqlName(o.name) : `${sqlName(schema)}.${sqlName(o.name)}`, kind: kind.replace('_', ' ') });
      }
    }
  }
  const schemas = Object.keys(catalog).filter(starts).map((s) => ({ label: `${s}.`, insert: `${sqlName(s)}.`, kind: 'schema' }));
  const functions = Object.entries(catalog).flatMap(([schema, kinds]) => kinds.function.filter((o) => starts(o.name))
    .map((o) => ({ label: path.includes(schema) ? o.name : `${schema}.${o.name}`, insert: path.includes(schema) ? sqlName(o.name) : `${sqlName(schema)}.${sqlName(o.name)}`, kind: 'function' })));
  const keywords = KEYWORDS.filter((k) => k.startsWith(lower) && k !== lower).map((k) => ({ label: k.toUpperCase(), insert: k.toUpperCase(), kind: 'keyword' }));
  const columns = (await Promise.all(scope.map(columnsFor))).flat();
  const names = scope.flatMap((r) => [r.alias, r.name]).filter((n) => n && starts(n)).map((n) => ({ label: n, insert: sqlName(n), kind: 'name' }));
  const ordered = wantsRelation ? [...relations, ...schemas, ...functions, ...keywords]
    : wantsColumn ? [...columns, ...names, ...functions, ...keywords, ...relations]
      : [...keywords, ...columns, ...relations, ...schemas, ...functions];
  const seen = new Set();
  return ordered.filter((c) => !seen.has(c.insert) && seen.add(c.insert));
}
