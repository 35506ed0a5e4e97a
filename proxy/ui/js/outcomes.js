// A script's outcome, statement by statement: each one's command, count and
// time, its rows one click away; on a failure, the statements before it,
// the one that failed, the ones that did not run, and what the transaction
// did with the work before the failure.

import { h, count } from './dom.js';
import { grid } from './grid.js';
import { statements, tokenize } from './sql.js';

/** The statements of `sql` that hold code (not only comments), as text. */
function parts(sql) {
  return statements(sql).map((r) => sql.slice(r.start, r.end).trim())
    .filter((text) => tokenize(text).some((t) => t.type !== 'comment' && t.type !== 'ws'));
}

const short = (text) => (text.length > 90 ? `${text.slice(0, 90)}…` : text).replace(/\s+/g, ' ');

const rowsOf = (n) => `${count(n)} row${n === 1 ? '' : 's'}`;

function counted(s) {
  if (s.columns) return rowsOf(s.rows_total ?? s.rows.length);
  if (s.picked && s.rows_affected != null) return rowsOf(s.rows_affected);
  return s.rows_affected != null && !/^(SELECT|CREATE|DROP|ALTER|BEGIN|COMMIT|ROLLBACK|SET)\b/.test(s.command || '') ? `${count(s.rows_affected)} affected` : '';
}

function done(s, i, text) {
  const facts = [s.command, counted(s), s.duration_ms != null && `${s.duration_ms.toFixed(1)} ms`].filter(Boolean).join(' · ');
  const rows = s.columns && !s.picked
    ? h('details', {}, h('summary', {}, 'Its rows'), grid({ columns: s.columns, rows: s.rows, types: s.column_types, label: `Rows of statement ${i + 1}` }))
    : s.picked && h('span', { class: 'muted' }, ' (its rows are shown below)');
  return h('li', { class: 'outcome ok' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, '✓ '),
    h('code', {}, short(text)), ' ', h('span', { class: 'muted' }, facts), rows);
}

/** The outcome list of a script that ran through (two statements or more), or null. */
export function scriptOutcome(data, sql) {
  const list = data.statements || [];
  if (list.length < 2) return null;
  const texts = parts(sql);
  return h('section', { class: 'outcomes', 'aria-label': 'Statements' },
    h('h3', {}, `${list.length} statements ran`),
    h('ol', {}, list.map((s, i) => done(s, i, texts[i] || s.command || ''))));
}

/** What the work before a failure became, from the commands that ran and the transaction after it. */
function fate(list, transaction) {
  if (transaction === 'failed') {
    return 'They ran inside your transaction, which has failed with this statement: roll it back (nothing in it can be committed).';
  }
  if (list.some((s) => /^(BEGIN|START|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/.test(s.command || ''))) {
    return 'The script controls its own transactions: what it committed before the failure stays committed; the rest was rolled back.';
  }
  return 'They ran in one transaction with the failing statement, so their changes were rolled back: nothing of this script was kept.';
}

/** The outcome list of a script whose statement failed after others ran, or null. */
export function failedScript(error, sql) {
  const list = error.body?.statements;
  if (!list?.length) return null;
  const texts = parts(sql);
  const failedAt = error.body.failed_statement - 1;
  const rest = texts.slice(failedAt + 1);
  return h('section', { class: 'outcomes', 'aria-label': 'Statements' },
    h('h3', {}, `Statement ${failedAt + 1} of ${Math.max(texts.length, failedAt + 1)} failed`),
    h('p', { class: 'note-box', role: 'note' }, fate(list, error.transaction)),
    h('ol', {},
      list.map((s, i) => done(s, i, texts[i] || s.command || '')),
      h('li', { class: 'outcome failed' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, '✗ '),
        h('code', {}, short(texts[failedAt] || '')), ' ', h('strong', { class: 'error-text' }, `failed: ${error.message}`)),
      rest.map((text) => h('li', { class: 'outcome skipped' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, '– '),
        h('code', {}, short(text)), ' ', h('span', { class: 'muted' }, 'not run')))));
}
