// Editing a table's rows in place: the changes staged on screen (kept per
// table until applied or discarded), the cell editor fitting each column's
// type, the review of the exact SQL, and Apply, which runs it all in one
// transaction. Rows are named by the table's key and the values the person
// saw, so a row changed meanwhile comes back as a conflict, never
// overwritten.

import { h, fill, text, count } from './dom.js';
import { call, ApiError } from './api.js';
import { errorBox, notice } from './state.js';

/** Staged changes by table path, kept in sessionStorage: a reload or a reconnect keeps them. */
const staged = new Map();
const KEY = 'pgdoor.staged';
const kept = JSON.parse(sessionStorage.getItem(KEY) || '{}');

function keep() {
  const all = {};
  for (const [path, changes] of staged) if (changes.size) all[path] = { entries: changes.entries, inserted: changes.inserted };
  sessionStorage.setItem(KEY, JSON.stringify(all));
}

/** Whether `a` (as loaded) and `b` (as edited) hold the same value. */
const same = (a, b) => (a === null) === (b === null) && (a === null || text(a) === text(b));

/**
 * The staged changes of one table. Entries keep the order they were made
 * in; an existing row is known by its key (`id`, its key values as JSON),
 * so a reload that brings the row back shows its staged edit again.
 */
export class Staged {
  constructor(editing) {
    this.editing = editing;
    this.entries = [];
    this.inserted = 0;
    this.listeners = [];
  }

  get size() { return this.entries.length; }

  /** Calls `listener` after every change. */
  onChange(listener) { this.listeners.push(listener); }

  changed() {
    keep();
    this.listeners.forEach((listener) => listener());
  }

  /** The column facts by name. */
  column(name) { return this.editing.columns.find((c) => c.name === name); }

  /** A loaded row's reference: its id, key and the values the person saw. */
  ref(columns, row) {
    const value = (name) => row[columns.indexOf(name)];
    const key = Object.fromEntries(this.editing.key.map((name) => [name, value(name)]));
    // Binary values may be shown re-encoded (hex, base64): they are not compared.
    const old = Object.fromEntries(this.editing.columns
      .filter((c) => !c.in_key && c.kind !== 'binary' && columns.includes(c.name))
      .map((c) => [c.name, value(c.name)]));
    return { id: JSON.stringify(this.editing.key.map(value)), key, old };
  }

  find(id) { return this.entries.find((e) => e.id === id); }

  /** Sets `column` of a loaded row (`ref`) or a new one (`id`) to `value`. */
  set(target, column, value) {
    const entry = typeof target === 'string' ? this.find(target) : this.find(target.id);
    if (entry?.op === 'delete') return;
    if (entry?.op === 'insert') {
      entry.values[column] = value;
    } else if (entry) {
      if (same(entry.original[column], value)) delete entry.values[column];
      else entry.values[column] = value;
      if (!Object.keys(entry.values).length) this.entries.splice(this.entries.indexOf(entry), 1);
    } else {
      const { id, key, old, original } = target;
      if (same(original[column], value)) return;
      this.entries.push({ op: 'update', id, key, old, original, values: { [column]: value } });
    }
    this.changed();
  }

  /** Stages a loaded row's deletion, or takes it back; drops a new row. */
  toggleDelete(target) {
    const id = typeof target === 'string' ? target : target.id;
    const entry = this.find(id);
    if (entry?.op === 'insert' || entry?.op === 'delete') {
      this.entries.splice(this.entries.indexOf(entry), 1);
    } else {
      if (entry) this.entries.splice(this.entries.indexOf(entry), 1);
      this.entries.push({ op: 'delete', id, key: target.key, old: target.old });
    }
    this.changed();
  }

  /** Stages a new row with `values` (the rest take their defaults); its id. */
  insert(values = {}) {
    this.inserted += 1;
    const id = `new:${this.inserted}`;
    this.entries.push({ op: 'insert', id, values });
    this.changed();
    return id;
  }

  /** The values a copy of a loaded row starts with: all but generated columns and keys with a default. */
  copyOf(columns, row) {
    return Object.fromEntries(this.editing.columns
      .filter((c) => !c.generated && !(c.in_key && c.default != null) && columns.includes(c.name))
      .map((c) => [c.name, row[columns.indexOf(c.name)]]));
  }

  /** The changes as the API takes them, in the order staged. */
  changes() {
    return this.entries.map(({ op, key, old, values }) => (op === 'insert'
      ? { op, values }
      : op === 'delete' ? { op, key, old } : { op, key, old, values }));
  }

  /** Drops the entries at `indexes` of `changes()`. */
  drop(indexes) {
    const gone = new Set(indexes.map((i) => this.entries[i]));
    this.entries = this.entries.filter((e) => !gone.has(e));
    this.changed();
  }

  clear() {
    this.entries = [];
    this.changed();
  }

  /**
   * What the grid shows: the loaded rows with staged values in, then the
   * new rows (columns left to their default say so); for each row its
   * target and its state (`update`, `delete`, `insert` or none).
   */
  view(columns, rows) {
    const shown = rows.map((row) => {
      const target = { ...this.ref(columns, row), original: Object.fromEntries(columns.map((c, i) => [c, row[i]])) };
      const entry = this.find(target.id);
      const values = entry?.op === 'update' ? columns.map((c, i) => (c in entry.values ? entry.values[c] : row[i])) : row;
      return { values, target, entry };
    });
    for (const entry of this.entries.filter((e) => e.op === 'insert')) {
      shown.push({
        values: columns.map((c) => (c in entry.values ? entry.values[c] : defaultText(this.column(c)))),
        target: entry.id,
        entry,
      });
    }
    return shown;
  }
}

function defaultText(column) {
  if (!column) return null;
  if (column.generated) return 'generated';
  return column.default != null ? `DEFAULT ${column.default}` : column.nullable ? null : 'required';
}

/** The staged changes of the table at `path`, made once per page. */
export function stagedFor(path, editing) {
  let changes = staged.get(path);
  if (!changes) {
    changes = new Staged(editing);
    Object.assign(changes, kept[path] || {});
    staged.set(path, changes);
  } else {
    changes.editing = editing;
    changes.listeners = [];
  }
  return changes;
}

/** The class a cell gets for what is staged on its row. */
export function cellState(row, columnName) {
  const { entry } = row;
  if (!entry) return '';
  if (entry.op === 'delete') return 'staged-delete';
  if (entry.op === 'insert') return columnName in entry.values ? 'staged-insert staged-value' : 'staged-insert unset';
  return columnName in entry.values ? 'staged-update staged-value' : 'staged-update';
}

/** A cell's tooltip for what is staged on it. */
export function cellNote(row, columnName) {
  const { entry } = row;
  if (!entry) return '';
  if (entry.op === 'delete') return 'Deletion staged, not applied yet';
  if (entry.op === 'insert') return 'New row, not applied yet';
  return columnName in entry.values ? `Changed from ${text(entry.original[columnName])}, not applied yet` : '';
}

const EDIT_DIALOG = 'edit-dialog';

/**
 * Opens the editor for one cell: a field fitting `column.kind`, a NULL
 * toggle for a nullable column, and for JSON a check and pretty-printing.
 * `save(value)` gets the new value (a string, a boolean or null).
 */
export function editCell(column, value, save) {
  document.getElementById(EDIT_DIALOG)?.remove();
  const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const field = fieldFor(column, value);
  const isNull = h('input', { type: 'checkbox', checked: value === null && column.nullable, 'aria-label': 'NULL' });
  const sync = () => { field.disabled = isNull.checked; };
  isNull.addEventListener('change', sync);
  sync();
  const pretty = column.kind === 'json' && h('button', {
    type: 'button',
    onclick: () => {
      try {
        field.value = JSON.stringify(JSON.parse(field.value), null, 2);
        error.hidden = true;
      } catch (e) {
        fill(error, `Not valid JSON: ${e.message}`);
        error.hidden = false;
      }
    },
  }, 'Format JSON');
  const dialog = h('dialog', { id: EDIT_DIALOG, 'aria-labelledby': `${EDIT_DIALOG}-title` },
    h('form', { method: 'dialog' },
      h('h2', { id: `${EDIT_DIALOG}-title` }, column.name, ' ', h('span', { class: 'muted' }, column.type)),
      h('label', { class: 'field' }, h('span', { class: 'offscreen' }, `Value of ${column.name}`), field),
      error,
      h('div', { class: 'actions' },
        column.nullable && h('label', { class: 'null-toggle' }, isNull, ' NULL'),
        pretty,
        h('span', { class: 'spacer' }),
        h('button', { value: 'cancel', type: 'button', onclick: () => dialog.close() }, 'Cancel'),
        h('button', { class: 'primary', value: 'save' }, 'Stage'))));
  dialog.querySelector('form').addEventListener('submit', (event) => {
    const result = isNull.checked ? { value: null } : read(column, field);
    if (result.error) {
      event.preventDefault();
      fill(error, result.error);
      error.hidden = false;
      field.focus();
      return;
    }
    save(result.value);
  });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  field.focus();
}

/** `2024-05-01 10:20:30.5` (PostgreSQL) to `2024-05-01T10:20:30.5` (datetime-local), and back. */
const toLocal = (s) => s.replace(' ', 'T');
const fromLocal = (s) => s.replace('T', ' ');

function fieldFor(column, value) {
  const current = value === null ? '' : text(value);
  const type = column.type;
  if (column.kind === 'boolean') {
    return h('select', {}, h('option', { value: 'true', selected: value === true }, 'true'),
      h('option', { value: 'false', selected: value !== true }, 'false'));
  }
  if (column.kind === 'enum') {
    return h('select', {}, column.labels.map((label) => h('option', { value: label, selected: label === current }, label)));
  }
  if (column.kind === 'datetime' && type === 'date') {
    return h('input', { type: 'date', value: current });
  }
  if (column.kind === 'datetime' && /^timestamp(\(\d\))? without time zone$/.test(type) && /^\d{4}-\d\d-\d\d \d\d:\d\d/.test(current || '2000-01-01 00:00')) {
    return h('input', { type: 'datetime-local', step: 'any', value: toLocal(current) });
  }
  if (column.kind === 'number') {
    return h('input', { type: 'text', inputmode: 'decimal', value: current, autocomplete: 'off' });
  }
  const multiline = column.kind === 'json' || column.kind === 'array' || current.includes('\n') || current.length > 60;
  if (multiline) {
    const shown = column.kind === 'json' && current ? prettyJson(current) : current;
    return h('textarea', { rows: Math.min(16, Math.max(4, shown.split('\n').length + 1)), spellcheck: false }, shown);
  }
  return h('input', { type: 'text', value: current, autocomplete: 'off', spellcheck: false });
}

function prettyJson(s) {
  try { return JSON.stringify(JSON.parse(s), null, 2); } catch { return s; }
}

/** The field's value for the API, or why it cannot be one. */
function read(column, field) {
  const raw = field.value;
  switch (column.kind) {
    case 'boolean': return { value: raw === 'true' };
    case 'number':
      return /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(raw) || /^\s*(-?Infinity|NaN)\s*$/.test(raw)
        ? { value: raw.trim() }
        : { error: `${column.type} needs a number, such as 42 or -1.5.` };
    case 'json':
      try {
        return { value: JSON.stringify(JSON.parse(raw)) };
      } catch (e) {
        return { error: `Not valid JSON: ${e.message}` };
      }
    case 'datetime':
      if (!raw.trim()) return { error: `${column.type} needs a value: pick one, or tick NULL.` };
      return { value: field.type === 'datetime-local' ? fromLocal(raw) : raw };
    default: return { value: raw };
  }
}

/**
 * The review panel for `changes`: the exact SQL (from a dry run), then
 * Apply or Back. `done(report)` is called after Apply with what happened.
 */
export async function review(holder, path, changes, done) {
  fill(holder, h('p', { class: 'muted' }, 'Preparing the statements…'));
  let preview;
  try {
    preview = await call(`tables/${path}/changes`, { json: { changes: changes.changes(), dry_run: true } });
  } catch (error) {
    if (error instanceof ApiError) fill(holder, errorBox(error, 'The changes cannot be applied'), backButton(holder));
    return;
  }
  const apply = h('button', { class: 'primary', onclick: () => run(holder, path, changes, done) }, `Apply ${count(changes.size)} change${changes.size === 1 ? '' : 's'}`);
  fill(holder, h('section', { class: 'review', 'aria-label': 'Review of the staged changes' },
    h('h3', {}, 'These statements run in one transaction'),
    h('ol', { class: 'statements' }, preview.statements.map((s) => h('li', {}, h('pre', { class: 'code' }, `${s.text};`)))),
    h('p', { class: 'muted' }, 'Values are sent as parameters; they are written in here to be read. If any row changed since you loaded it, nothing is applied.'),
    h('div', { class: 'actions' }, backButton(holder), apply)));
  apply.focus();
}

function backButton(holder) {
  return h('button', { onclick: () => fill(holder) }, 'Back to editing');
}

const ops = { insert: 'inserted', update: 'updated', delete: 'deleted' };

async function run(holder, path, changes, done) {
  fill(holder, h('p', { class: 'muted running' }, 'Applying…'));
  const sent = changes.changes();
  try {
    const answer = await call(`tables/${path}/changes`, { json: { changes: sent } });
    const tally = {};
    for (const s of answer.statements) tally[s.op] = (tally[s.op] || 0) + (s.affected || 0);
    const summary = Object.entries(tally).map(([op, n]) => `${count(n)} row${n === 1 ? '' : 's'} ${ops[op]}`).join(', ');
    changes.clear();
    done({
      message: `Applied in one transaction: ${summary}.`,
      statements: answer.statements,
    });
  } catch (error) {
    if (!(error instanceof ApiError)) return;
    if (error.code === 'conflict') {
      const at = error.body.conflicts || [];
      changes.drop(at);
      done({
        error: {
          message: `${at.length === 1 ? 'A row was' : `${at.length} rows were`} changed or deleted by someone else since you loaded ${at.length === 1 ? 'it' : 'them'}, so nothing was applied. `
            + `The fresh values are shown and your edit of ${at.length === 1 ? 'that row' : 'those rows'} was dropped: make it again if it still holds. `
            + (changes.size ? `Your other ${count(changes.size)} change${changes.size === 1 ? ' is' : 's are'} still staged.` : ''),
        },
      });
    } else {
      fill(holder, errorBox(error, 'Nothing was applied'),
        h('p', { class: 'muted' }, 'Your changes are still staged: fix the one named above, then review again.'), backButton(holder));
    }
  }
}

/** The report of the last Apply: each statement and what it did. */
export function report(result) {
  if (result.error) return errorBox(result.error);
  return h('section', { class: 'applied', role: 'status', 'aria-label': 'Applied changes' },
    h('p', {}, result.message),
    h('details', {}, h('summary', {}, 'Statements run'),
      h('ol', { class: 'statements' }, result.statements.map((s) => h('li', {},
        h('pre', { class: 'code' }, `${s.text};`), h('span', { class: 'muted' }, `${count(s.affected || 0)} row${s.affected === 1 ? '' : 's'} ${ops[s.op]}`))))));
}
