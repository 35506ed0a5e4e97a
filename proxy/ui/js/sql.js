// A small SQL lexer for highlighting and for finding the statement under the
// cursor: strings, quoted names, dollar quotes, comments, numbers, words.

export const KEYWORDS = `select from where and or not null is in as on join left right inner outer full cross natural
using group by order having limit offset distinct all union intersect except insert into values update set delete
returning create table view materialized index unique primary key foreign references constraint check default
drop alter add column rename to if exists cascade restrict truncate begin commit rollback savepoint release
transaction start work explain analyze verbose with recursive case when then else end like ilike similar between
asc desc nulls first last true false cast grant revoke schema sequence function procedure returns language
trigger before after for each row execute do declare vacuum lateral window over partition filter within copy
show reset current_date current_timestamp now count sum avg min max coalesce nullif exists any some array
interval date time timestamp timestamptz boolean integer bigint smallint numeric text varchar char jsonb json
uuid bytea serial bigserial real double precision zone at only temporary temp unlogged comment conflict nothing
fetch next rows row escape collate listen notify lock share mode`.split(/\s+/);

const KEYWORD_SET = new Set(KEYWORDS);

/** Splits SQL into tokens `{type, text, start}`; types: kw word ident str num comment op ws. */
export function tokenize(sql) {
  const tokens = [];
  let i = 0;
  const push = (type, end) => { tokens.push({ type, text: sql.slice(i, end), start: i }); i = end; };
  while (i < sql.length) {
    const c = sql[i];
    const rest = sql.slice(i, i + 2);
    if (/\s/.test(c)) push('ws', scan(sql, i, (ch) => /\s/.test(ch)));
    else if (rest === '--') push('comment', lineEnd(sql, i));
    else if (rest === '/*') push('comment', blockEnd(sql, i));
    else if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) push('str', quoteEnd(sql, c === "'" ? i : i + 1, "'"));
    else if (c === '"') push('ident', quoteEnd(sql, i, '"'));
    else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) push('str', dollarEnd(sql, i));
    else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] || ''))) push('num', scan(sql, i, (ch) => /[0-9.eE]/.test(ch)));
    else if (/[\p{L}_]/u.test(c)) {
      const end = scan(sql, i, (ch) => /[\p{L}\p{N}_$]/u.test(ch));
      push(KEYWORD_SET.has(sql.slice(i, end).toLowerCase()) ? 'kw' : 'word', end);
    } else push('op', i + 1);
  }
  return tokens;
}

function scan(sql, i, ok) {
  let j = i + 1;
  while (j < sql.length && ok(sql[j])) j++;
  return j;
}

function lineEnd(sql, i) {
  const j = sql.indexOf('\n', i);
  return j < 0 ? sql.length : j;
}

function blockEnd(sql, i) {
  const j = sql.indexOf('*/', i + 2);
  return j < 0 ? sql.length : j + 2;
}

function quoteEnd(sql, i, q) {
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === q) {
      if (sql[j + 1] === q) j += 2;
      else return j + 1;
    } else j++;
  }
  return sql.length;
}

function dollarEnd(sql, i) {
  const tag = sql.slice(i).match(/^\$[A-Za-z_]*\$/)[0];
  const j = sql.indexOf(tag, i + tag.length);
  return j < 0 ? sql.length : j + tag.length;
}

/** The statements of `sql` as `{start, end}` ranges, split at `;` outside strings and comments. */
export function statements(sql) {
  const ranges = [];
  let start = 0;
  for (const token of tokenize(sql)) {
    if (token.type === 'op' && token.text === ';') {
      ranges.push({ start, end: token.start + 1 });
      start = token.start + 1;
    }
  }
  if (sql.slice(start).trim()) ranges.push({ start, end: sql.length });
  return ranges;
}

/** The statement holding `offset` (or the one just before it), trimmed: `{text, start}`. */
export function statementAt(sql, offset) {
  // Only comments and blank lines are no statement: a cursor on a trailing
  // comment means the statement before it.
  const code = (r) => tokenize(sql.slice(r.start, r.end)).some((t) => t.type !== 'comment' && t.type !== 'ws');
  const ranges = statements(sql).filter(code);
  const range = ranges.find((r) => offset >= r.start && offset <= r.end)
    || [...ranges].reverse().find((r) => r.start <= offset) || ranges[0];
  if (!range) return { text: '', start: 0 };
  const raw = sql.slice(range.start, range.end);
  const lead = raw.length - raw.trimStart().length;
  return { text: raw.trim(), start: range.start + lead };
}
