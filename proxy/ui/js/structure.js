// The Structure tab: a relation's columns with their keys, references,
// defaults and comments; its constraints and the tables that reference it;
// a view's definition (and Refresh for a materialized view on a writable
// link); a sequence's settings.

import { h, fill, count } from './dom.js';
import { call, quoted, ApiError } from './api.js';
import { errorBox, policy, notice } from './state.js';
import { rowsAddress } from './address.js';
import { refreshAfter } from './sidebar.js';
import * as transaction from './transaction.js';

/** The structure of each relation, asked once per page (forgotten after DDL). */
const known = new Map();

/** A relation's structure, from the cache or the server. */
export function structureOf(path) {
  if (!known.has(path)) {
    const asked = call(`tables/${path}/structure`);
    asked.catch(() => known.delete(path));
    known.set(path, asked);
  }
  return known.get(path);
}

/** Forgets every structure (the schema may have changed). */
export const forget = () => known.clear();

const tableLink = (schema, name, label) => h('a', { href: rowsAddress({ schema, name, kind: 'table' }, []) }, label || `${schema}.${name}`);

const badge = (label, title) => h('span', { class: 'badge mark', title }, label);

/** The markers of a column: PK (with its place in a composite key), FK with its target, UNIQUE, NOT NULL, identity, generated. */
function markers(column, keySize) {
  return [
    column.primary_key && badge(keySize > 1 ? `PK ${column.primary_key}/${keySize}` : 'PK',
      keySize > 1 ? `Column ${column.primary_key} of the ${keySize}-column primary key` : 'Primary key'),
    (column.references || []).map((ref) => h('span', { class: 'fk-target' }, badge('FK', `Foreign key ${ref.constraint}`), ' → ',
      tableLink(ref.schema, ref.table, `${ref.schema}.${ref.table}.${ref.column}`))),
    (column.unique || []).map((cols) => badge(cols.length > 1 ? `UNIQUE (${cols.join(', ')})` : 'UNIQUE',
      cols.length > 1 ? `Unique together with ${cols.filter((c) => c !== column.name).join(', ')}` : 'Unique')),
    !column.nullable && !column.primary_key && badge('NOT NULL', 'A value is required'),
    column.identity && badge(`IDENTITY ${column.identity.toUpperCase()}`, 'Numbered by the database'),
    column.generated && badge('GENERATED', `Computed: ${column.generated}`),
  ];
}

function columnsTable(structure) {
  const keySize = structure.columns.filter((c) => c.primary_key).length;
  return h('table', { class: 'structure' },
    h('caption', { class: 'offscreen' }, `Columns of ${structure.schema}.${structure.name}`),
    h('thead', {}, h('tr', {}, ['#', 'Column', 'Type', 'Keys and rules', 'Default', 'Comment'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, structure.columns.map((column, i) => h('tr', {},
      h('td', { class: 'muted' }, String(i + 1)),
      h('th', { scope: 'row' }, column.name),
      h('td', { class: 'mono' }, column.type),
      h('td', {}, h('div', { class: 'markers' }, markers(column, keySize))),
      h('td', { class: 'mono' }, column.generated ? h('span', { class: 'muted' }, `= ${column.generated}`) : column.default ?? ''),
      h('td', {}, column.comment ?? '')))));
}

function constraintsList(structure) {
  if (!structure.constraints.length) return null;
  const names = { primary_key: 'Primary key', unique: 'Unique', foreign_key: 'Foreign key', check: 'Check', exclusion: 'Exclusion', other: 'Other' };
  return [h('h3', {}, 'Constraints'), h('ul', { class: 'constraints' }, structure.constraints.map((c) => {
    const fk = c.type === 'foreign_key' && structure.foreign_keys.find((f) => f.name === c.name);
    return h('li', {}, h('strong', {}, names[c.type], ' '), h('span', { class: 'mono' }, c.name), ': ',
      h('code', {}, c.definition), fk && [' ', tableLink(fk.schema, fk.table, `open ${fk.schema}.${fk.table}`)]);
  }))];
}

function referencedByList(structure) {
  if (!structure.referenced_by.length) return null;
  return [h('h3', {}, 'Referenced by'), h('ul', { class: 'constraints' }, structure.referenced_by.map((r) => h('li', {},
    tableLink(r.schema, r.table), h('span', { class: 'mono' }, ` (${r.columns.join(', ')}) → (${r.target_columns.join(', ')})`),
    h('span', { class: 'muted' }, ` · ${r.name}`), !r.readable && h('span', { class: 'muted' }, ' · your role may not read it'))))];
}

function sequenceFacts(s) {
  const facts = [
    ['Type', s.data_type], ['Start', count(s.start)], ['Increment', count(s.increment)], ['Minimum', count(s.min)],
    ['Maximum', count(s.max)], ['Cache', count(s.cache)], ['Cycles', s.cycle ? 'yes, back to the minimum after the maximum' : 'no'],
    ['Last value written', s.last_value == null ? 'none yet (or not readable by your role)' : `${count(s.last_value)}${s.cache > 1 ? ' (with a cache, it may be ahead of the last value handed out)' : ''}`],
    ['Owned by', s.owned_by ? tableLink(s.owned_by.schema, s.owned_by.table, `${s.owned_by.schema}.${s.owned_by.table}.${s.owned_by.column}`) : 'no column'],
  ];
  return h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** The definition of a view, with Refresh for a materialized view on a writable link. */
function definitionOf(structure, body, path) {
  const matview = structure.kind === 'materialized_view';
  const refresh = async (button) => {
    button.disabled = true;
    try {
      const data = await call('query', { form: { query: `REFRESH MATERIALIZED VIEW ${quoted(structure.schema, structure.name)}` } });
      transaction.track(data.transaction);
      refreshAfter(data);
      notice(data.transaction === 'idle' ? `Refreshed ${structure.schema}.${structure.name}.`
        : `Refreshed ${structure.schema}.${structure.name} inside the open transaction: commit to keep it.`);
      forget();
      render(body, path);
    } catch (error) {
      button.disabled = false;
      transaction.track(error.transaction);
      if (error instanceof ApiError) body.prepend(errorBox(error, 'Refresh failed'));
    }
  };
  return [
    h('h3', {}, 'Definition'),
    matview && h('p', {}, structure.populated ? 'Holds the rows of its last refresh.' : 'Holds no data yet: it has never been refreshed.',
      !policy.readonly && [' ', h('button', { onclick: (e) => refresh(e.currentTarget) }, 'Refresh materialized view')]),
    h('pre', { class: 'code' }, structure.definition),
  ];
}

/** Draws the Structure tab of the relation at `path` into `body`. */
export async function render(body, path) {
  fill(body, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const structure = await structureOf(path);
    fill(body,
      structure.comment && h('p', { class: 'table-comment' }, structure.comment),
      structure.definition != null && definitionOf(structure, body, path),
      structure.sequence && [h('h3', {}, 'Settings'), sequenceFacts(structure.sequence)],
      !structure.sequence && [h('h3', {}, 'Columns'), columnsTable(structure)],
      constraintsList(structure), referencedByList(structure));
  } catch (error) {
    if (error instanceof ApiError) fill(body, errorBox(error));
  }
}
