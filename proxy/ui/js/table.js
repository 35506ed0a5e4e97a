// One table, view, materialized view, sequence or function: its rows with
// paging, sort and filter; structure, indexes, constraints and sizes.

import { h, fill, count } from './dom.js';
import { call, downloadRows, tablePath, ApiError } from './api.js';
import { state, save, errorBox, policy, downloading, notice } from './state.js';
import { grid } from './grid.js';
import { openCell } from './cell.js';
import * as edits from './edit.js';
import { onReload } from './sidebar.js';
import * as structures from './structure.js';
import { linkFor, referencedBy } from './relations.js';

const OPERATORS = [
  ['equal', '='], ['not_equal', '≠'], ['greater', '>'], ['greater_eq', '≥'], ['less', '<'], ['less_eq', '≤'],
  ['like', 'like'], ['ilike', 'ilike'], ['null', 'is null'], ['not_null', 'is not null'],
];
const PAGE_SIZES = [50, 100, 500, 1000];
/** Tables this big show the planner's estimate, and a sort no index serves warns first (as the rows route). */
const BIG_TABLE = 100_000;

/** Draws the object view into `main`. */
export function render(main, object) {
  if (!object) return;
  const tabs = object.kind === 'function'
    ? [['definition', 'Definition']]
    : [['rows', 'Rows'], ['structure', 'Structure'], ['indexes', 'Indexes'], ['constraints', 'Constraints'], ['info', 'Info']]
      .filter(([tab]) => object.kind === 'table' || object.kind === 'materialized_view' || !['indexes', 'constraints'].includes(tab));
  if (!tabs.some(([tab]) => tab === state.tab)) state.tab = tabs[0][0];
  const body = h('div', { class: 'object-body' });
  const bar = h('div', { class: 'subtabs', role: 'tablist', 'aria-label': 'Object views' }, tabs.map(([tab, title]) => h('button', {
    role: 'tab', 'aria-selected': String(tab === state.tab),
    onclick: () => { state.tab = tab; save(); render(main, object); },
  }, title)));
  fill(main, h('div', { class: 'object-head' },
    h('h2', {}, h('span', { class: 'muted' }, `${object.schema}.`), object.name),
    h('span', { class: 'kind-label' }, object.kind.replace('_', ' ')), bar), body);
  const path = tablePath(object.schema, object.name);
  const views = {
    rows: () => rows(body, object, path),
    structure: () => structures.render(body, path),
    indexes: () => result(body, `tables/${path}/indexes`, 'Indexes'),
    constraints: () => result(body, `tables/${path}/constraints`, 'Constraints'),
    info: () => info(body, path),
    definition: () => definition(body, object),
  };
  views[state.tab]();
}

async function result(body, path, label) {
  fill(body, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const data = await call(path);
    fill(body, data.rows.length ? grid({ columns: data.columns, rows: data.rows, types: data.column_types, label })
      : h('p', { class: 'muted' }, `No ${label.toLowerCase()}.`));
  } catch (error) {
    if (error instanceof ApiError) fill(body, errorBox(error));
  }
}

async function info(body, path) {
  try {
    const data = await call(`tables/${path}/info`);
    const names = { total_size: 'Total size', data_size: 'Data size', index_size: 'Index size', rows_count: 'Rows (estimate)' };
    fill(body, h('dl', { class: 'facts' }, Object.entries(names).map(([key, title]) => [
      h('dt', {}, title), h('dd', {}, key === 'rows_count' ? (data[key] < 0 ? 'not analyzed yet' : count(data[key])) : data[key]),
    ])));
  } catch (error) {
    if (error instanceof ApiError) fill(body, errorBox(error));
  }
}

async function definition(body, object) {
  try {
    const data = await call(`functions/${object.oid}`);
    const text = data.rows[0]?.[data.columns.indexOf('functiondef')];
    fill(body, h('pre', { class: 'code' }, text || 'No definition (an aggregate or a built-in).'));
  } catch (error) {
    if (error instanceof ApiError) fill(body, errorBox(error));
  }
}

const takesValue = (op) => op !== 'null' && op !== 'not_null';

/** The rows route's parameters for the sort, filter and count on screen. */
function selection() {
  const params = new URLSearchParams();
  if (state.sort) {
    params.set('sort_column', state.sort.column);
    params.set('sort_order', state.sort.order);
  }
  if (state.filters?.length) {
    params.set('filters', JSON.stringify(state.filters.map(({ column, op, value }) => (takesValue(op) ? { column, op, value } : { column, op }))));
  }
  if (state.exact) params.set('count', 'exact');
  return params;
}

/** The editing facts of each table, asked once per page. */
const editingOf = new Map();

function editing(object, path) {
  if (!['table', 'view', 'materialized_view'].includes(object.kind)) return Promise.resolve(null);
  if (!editingOf.has(path)) editingOf.set(path, call(`tables/${path}/editing`).catch(() => null));
  return editingOf.get(path);
}

/** Forgets what was learnt of the tables (after DDL, or a refresh). */
const forgetTables = () => { editingOf.clear(); structures.forget(); };
onReload(forgetTables);

/** What the last Apply did, shown above the grid once. */
let lastReport = null;

/** The rows route's parameters for page `page` of the view on screen. */
function pageParams(perPage, page) {
  const params = selection();
  params.set('limit', perPage);
  params.set('offset', (page - 1) * perPage);
  return params;
}

/** What names one page of one view, for the cursor that leads to it. */
const pageKey = (path, perPage, page) => `${path}?${pageParams(perPage, page)}`;

/**
 * How the page the pager went to is found: by its neighbour's key (`after`,
 * `before`) or as the last page, where the rows are in primary-key order.
 * It holds for that page of that view only (`at`); a reload of it, after an
 * edit say, finds it the same way. Any other page goes by offset.
 */
let cursor = null;

async function rows(body, object, path, signal) {
  const perPage = state.perPage || 100;
  const page = state.page || 1;
  const params = pageParams(perPage, page);
  const at = pageKey(path, perPage, page);
  if (cursor?.at === at) params.set(...cursor.by);
  let data;
  let facts;
  let structure;
  try {
    [data, facts, structure] = await Promise.all([call(`tables/${path}/rows?${params}`, { signal }), editing(object, path),
      structures.structureOf(path).catch(() => null)]);
  } catch (error) {
    if (error instanceof ApiError) fill(body, toolbar(object, path, state.columns || []), errorBox(error));
    return;
  }
  const p = data.pagination;
  state.columns = data.columns;
  if (p.page !== page) {
    // The last page's number, or page 1 reached by key: the database knows best.
    state.page = p.page;
    if (cursor?.at === at) cursor.at = pageKey(path, perPage, p.page);
  }
  save();
  const reload = () => rows(body, object, path);
  const go = (n, by) => {
    state.page = Math.max(1, n);
    cursor = by ? { at: pageKey(path, perPage, state.page), by } : null;
    save();
    reload();
  };
  const sort = (column) => {
    const was = { sort: state.sort, page: state.page };
    const same = state.sort && state.sort.column === column;
    state.sort = same && state.sort.order === 'ASC' ? { column, order: 'DESC' } : same ? null : { column, order: 'ASC' };
    state.page = 1;
    save();
    if (!state.sort || !(p.table_estimate >= BIG_TABLE) || p.indexed_columns?.includes(column)) {
      reload();
      return;
    }
    // No index leads with the column: the database reads and sorts the
    // whole table. Say so, and let the person call it off.
    const controller = new AbortController();
    const trigger = document.activeElement;
    const cancel = h('button', {
      onclick: () => {
        // The rows on screen are still those of the sort before: they stay.
        controller.abort();
        Object.assign(state, was);
        save();
        warning.remove();
        if (trigger?.isConnected) trigger.focus();
      },
    }, 'Cancel the sort');
    const warning = h('p', { class: 'warning slow-sort', role: 'alert' },
      `Sorting ≈ ${count(p.table_estimate)} rows by ${column}, which no index leads with: the database reads and sorts the whole table, which may be slow.`, cancel);
    body.prepend(warning);
    cancel.focus();
    rows(body, object, path, controller.signal);
  };
  const types = facts ? data.columns.map((c) => facts.columns.find((f) => f.name === c)?.type || '') : [];
  const editable = facts?.editable ? edits.stagedFor(path, facts) : null;
  const report = lastReport && h('div', {}, edits.report(lastReport));
  lastReport = null;
  const review = h('div', { class: 'review-holder' });
  const empty = () => h('p', { class: 'muted' }, state.filters?.length ? 'No rows match the filter.' : 'This table is empty.');
  const valueIn = (values) => (name) => values[data.columns.indexOf(name)];
  if (!editable) {
    const table = data.rows.length && grid({
      columns: data.columns, rows: data.rows, types: data.column_types, typeNames: types, sort: state.sort, onSort: sort,
      label: `Rows of ${object.name}`, widthsKey: path,
      cellLink: structure && ((r, c) => linkFor(structure, data.columns[c], valueIn(data.rows[r]))),
    });
    fill(body, toolbar(object, path, data.columns), pager(p, page, perPage, go, path), report,
      object.kind === 'table' && !policy.readonly && facts?.reason && h('p', { class: 'muted note' }, `Not editable here: ${facts.reason}`),
      table || empty(), table && related(structure, table, (r) => data.rows[r] && valueIn(data.rows[r])));
    return;
  }
  const holder = h('div', { class: 'grid-holder' });
  const bar = h('div', { class: 'toolbar edit-bar', role: 'toolbar', 'aria-label': 'Editing' });
  let view = [];
  let shown = [];
  let table = null;
  let nextActive = null;
  const current = () => view[table?.active().row ?? -1];
  const draw = () => {
    view = editable.view(data.columns, data.rows);
    if (!view.length) {
      fill(holder, empty());
      table = null;
    } else if (table && shown.length === view.length) {
      shown.splice(0, shown.length, ...view.map((row) => row.values));
      table.redraw();
    } else {
      const focused = table && document.activeElement === table;
      const start = nextActive || table?.active();
      nextActive = null;
      shown = view.map((row) => row.values);
      table = grid({
        columns: data.columns, rows: shown, types: data.column_types, typeNames: types,
        sort: state.sort, onSort: sort, label: `Rows of ${object.name}, editable`, widthsKey: path,
        cellClass: (r, c) => edits.cellState(view[r], data.columns[c]),
        cellTitle: (r, c) => edits.cellNote(view[r], data.columns[c]),
        cellLink: structure && ((r, c) => linkFor(structure, data.columns[c], valueIn(view[r].values))),
        onOpen: (r, c) => editAt(r, c), start,
        onKey: (event) => {
          if (event.key === 'Delete' && facts.privileges.delete && current()) {
            editable.toggleDelete(current().target);
            event.preventDefault();
          }
        },
      });
      fill(holder, table);
      if (focused) table.focus();
    }
    drawBar();
  };
  const editAt = (r, c) => {
    const row = view[r];
    const column = facts.columns.find((f) => f.name === data.columns[c]);
    const readOnly = !column || column.generated || column.kind === 'binary' || row.entry?.op === 'delete'
      || (row.entry?.op !== 'insert' && !facts.privileges.update);
    if (readOnly) {
      openCell({ column: data.columns[c], value: row.values[c], row: Object.fromEntries(data.columns.map((n, i) => [n, row.values[i]])) });
      return;
    }
    const value = row.entry?.op === 'insert' && !(column.name in row.entry.values) ? null : row.values[c];
    edits.editCell(column, value, (next) => {
      editable.set(row.target, column.name, next);
      table?.focus();
    });
  };
  const drawBar = () => {
    const row = current();
    const deleting = row?.entry?.op === 'delete';
    fill(bar,
      facts.privileges.insert && h('button', {
        onclick: () => {
          nextActive = { row: view.length, col: 0 };
          editable.insert();
          table?.focus();
          table?.scrollTo({ top: table.scrollHeight });
        },
      }, '+ Add row'),
      facts.privileges.insert && h('button', {
        disabled: !row || row.entry?.op === 'insert',
        onclick: () => editable.insert(editable.copyOf(data.columns, data.rows[table.active().row])),
      }, 'Duplicate row'),
      facts.privileges.delete && h('button', {
        disabled: !row, onclick: () => editable.toggleDelete(row.target),
      }, deleting ? 'Undo delete' : row?.entry?.op === 'insert' ? 'Remove new row' : 'Delete row'),
      h('span', { class: 'spacer' }),
      editable.size
        ? [h('span', { class: 'staged-count', 'aria-live': 'polite' }, `${count(editable.size)} change${editable.size === 1 ? '' : 's'} staged`),
          h('button', { class: 'primary', onclick: () => edits.review(review, path, editable, applied) }, 'Review changes'),
          h('button', { onclick: () => { editable.clear(); fill(review); } }, 'Discard')]
        : h('span', { class: 'muted' }, 'Double-click or Enter edits a cell; changes are staged until you review them.'));
  };
  const applied = (result) => {
    lastReport = result;
    forgetTables();
    reload();
  };
  editable.onChange(draw);
  const relations = h('div', {});
  fill(body, toolbar(object, path, data.columns), pager(p, page, perPage, go, path), report, bar, review, holder, relations);
  draw();
  if (table) fill(relations, related(structure, holder, (r) => view[r] && !view[r].entry?.op && valueIn(view[r].values)));
  holder.addEventListener('click', drawBar);
  holder.addEventListener('keyup', drawBar);
}

/**
 * Below a grid: how to follow its foreign keys, and, where other tables
 * reference this one, a button that lists the rows referencing the active
 * row (`valueAt(r)` reads row r's values by column name; null for a row not
 * in the database yet).
 */
function related(structure, holder, valueAt) {
  const refs = structure?.referenced_by || [];
  const links = structure?.foreign_keys.length
    && h('span', { class: 'muted' }, `→ in a ${structure.foreign_keys.flatMap((f) => f.columns).join(', ')} cell opens the row it references (Alt+Enter on the cell).`);
  if (!refs.length) return links && h('div', { class: 'related' }, links);
  const panel = h('div', { class: 'related-panel' });
  const gridOf = () => (holder.matches('.grid') ? holder : holder.querySelector('.grid'));
  const key = structure.columns.filter((c) => c.primary_key).sort((a, b) => a.primary_key - b.primary_key).map((c) => c.name);
  const labelOf = (r, value) => (key.length ? key.map((k) => `${k} = ${value(k)}`).join(', ') : `row ${r + 1}`);
  let shownFor = null;
  const button = h('button', {
    onclick: () => {
      const r = gridOf()?.active().row;
      const value = r == null ? null : valueAt(r);
      if (!value) {
        fill(panel, h('p', { class: 'muted' }, 'Choose a row that is in the database (not a new one) first.'));
        return;
      }
      shownFor = r;
      fill(panel, referencedBy(structure, value, labelOf(r, value)));
    },
  }, 'Rows referencing this row');
  // The list is of one row: it goes when another row becomes the active one.
  const follow = () => { if (shownFor !== null && gridOf()?.active().row !== shownFor) { shownFor = null; fill(panel); } };
  holder.addEventListener('click', follow);
  holder.addEventListener('keyup', follow);
  return h('div', { class: 'related' }, h('div', { class: 'toolbar' }, button,
    h('span', { class: 'muted' }, `Referenced by ${refs.map((r) => `${r.schema}.${r.table}`).join(', ')}.`), links), panel);
}

/**
 * First, previous, a page field, next and last; the count, and an exact
 * count where it is an estimate. On a primary-key order, previous, next and
 * last go by key, however deep the page.
 */
function pager(p, page, perPage, go, path) {
  const pages = Math.max(p.pages_count, 1);
  const field = h('input', {
    type: 'number', min: 1, max: p.estimated ? false : pages, value: page, class: 'page-field', 'aria-label': 'Page number',
  });
  const jump = () => {
    const n = Math.floor(Number(field.value));
    if (n >= 1 && n !== page) go(p.estimated ? n : Math.min(n, pages));
  };
  field.addEventListener('keydown', (e) => { if (e.key === 'Enter') jump(); });
  field.addEventListener('change', jump);
  const byKey = (name, key) => p.keyset && [name, JSON.stringify(key)];
  const last = async () => {
    if (p.keyset || !p.estimated) return go(pages, p.keyset && ['page', 'last']);
    // The estimate's last page may not be the real one: count first.
    state.exact = true;
    const params = selection();
    params.set('limit', perPage);
    try {
      const exact = await call(`tables/${path}/rows?${params}`);
      go(exact.pagination.pages_count);
    } catch (error) {
      notice(`Counting failed: ${error.message}`);
    }
  };
  const total = p.estimated
    ? [`≈ ${count(p.rows_count)} rows (the planner's estimate) `, h('button', { onclick: () => { state.exact = true; go(page); } }, 'Count exactly')]
    : `${count(p.rows_count)} row${p.rows_count === 1 ? '' : 's'}`;
  return h('div', { class: 'pager', role: 'navigation', 'aria-label': 'Pages' },
    h('button', { onclick: () => go(1), disabled: !p.has_previous, 'aria-label': 'First page' }, '«'),
    h('button', { onclick: () => go(page - 1, byKey('before', p.keyset?.first)), disabled: !p.has_previous, 'aria-label': 'Previous page' }, '‹'),
    h('span', { 'aria-live': 'polite' }, 'Page ', field, ` of ${p.estimated ? '≈ ' : ''}${count(pages)} · `, total),
    h('button', { onclick: () => go(page + 1, byKey('after', p.keyset?.last)), disabled: !p.has_more, 'aria-label': 'Next page' }, '›'),
    h('button', { onclick: last, disabled: !p.has_more, 'aria-label': 'Last page' }, '»'),
    h('label', {}, 'Per page ', h('select', {
      onchange: (e) => { state.perPage = Number(e.target.value); state.page = 1; save(); go(1); },
    }, PAGE_SIZES.map((n) => h('option', { value: n, selected: n === perPage }, String(n))))));
}

/** One condition's row in the filter: column, operator, value, and a remove button. */
function condition(columns, f, remove) {
  const column = h('select', { 'aria-label': 'Filter column' }, columns.map((c) => h('option', { value: c, selected: c === f.column }, c)));
  const op = h('select', { 'aria-label': 'Filter operator' }, OPERATORS.map(([value, label]) => h('option', { value, selected: value === f.op }, label)));
  const value = h('input', { type: 'text', 'aria-label': 'Filter value', placeholder: 'value', value: f.value || '' });
  const sync = () => { value.hidden = !takesValue(op.value); };
  op.addEventListener('change', sync);
  sync();
  const row = h('div', { class: 'condition' }, column, op, value,
    h('button', { class: 'icon', 'aria-label': 'Remove this condition', title: 'Remove this condition', onclick: () => remove(row) }, '×'));
  row.read = () => ({ column: column.value, op: op.value, value: value.value });
  return row;
}

function toolbar(object, path, columns) {
  const list = h('div', { class: 'conditions' });
  const reload = (e) => rows(e.target.closest('.object-body'), object, path);
  const remove = (row) => {
    row.remove();
    if (!list.children.length) add({});
    list.querySelector('select')?.focus();
  };
  const add = (f) => {
    const row = condition(columns, f, remove);
    list.append(row);
    return row;
  };
  (state.filters?.length ? state.filters : [{}]).forEach(add);
  const apply = (e) => {
    e.preventDefault();
    state.filters = [...list.children].map((row) => row.read());
    state.page = 1;
    state.exact = false;
    save();
    reload(e);
  };
  const clear = (e) => {
    state.filters = [];
    state.page = 1;
    save();
    reload(e);
  };
  list.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target.matches('input')) apply(e); });
  const filtered = Boolean(state.filters?.length);
  const exporter = (format) => h('button', {
    title: filtered || state.sort ? 'Every row the filter selects, in the order on screen' : 'Every row of the table',
    onclick: () => {
      const filename = `${object.schema}.${object.name}.${format}`;
      const fields = selection();
      fields.delete('count');
      downloading(`Exporting ${object.name} as ${format.toUpperCase()}`, filename,
        (progress) => downloadRows(path, fields, format, filename, progress));
    },
  }, format.toUpperCase());
  const what = filtered
    ? `Export the rows the filter selects${state.sort ? ', sorted as shown' : ''}`
    : state.sort ? 'Export every row, sorted as shown' : 'Export every row';
  return h('div', { class: 'toolbar filter-bar', role: 'search' },
    h('span', { class: 'label' }, 'Filter'), list,
    h('button', { onclick: () => add({}).querySelector('select').focus(), title: 'Add a condition, joined by AND' }, '+ Add a condition'),
    h('button', { class: 'primary', onclick: apply }, 'Apply'),
    filtered && h('button', { onclick: clear }, 'Clear'),
    h('span', { class: 'spacer' }),
    policy.downloads && [h('span', { class: 'label export-what' }, what), ['csv', 'json', 'xml'].map(exporter)]);
}
