// One table, view, materialized view, sequence or function: its rows with
// paging, sort and filter; structure, indexes, constraints and sizes.

import { h, fill, count } from './dom.js';
import { call, downloadRows, tablePath, ApiError } from './api.js';
import { state, save, errorBox, policy, downloading } from './state.js';
import { grid } from './grid.js';

const OPERATORS = [
  ['equal', '='], ['not_equal', '≠'], ['greater', '>'], ['greater_eq', '≥'], ['less', '<'], ['less_eq', '≤'],
  ['like', 'like'], ['ilike', 'ilike'], ['null', 'is null'], ['not_null', 'is not null'],
];
const PAGE_SIZES = [50, 100, 500, 1000];

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
    structure: () => result(body, `tables/${path}`, 'Columns'),
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

/** The rows route's parameters for the sort and filter on screen. */
function selection() {
  const params = new URLSearchParams();
  if (state.sort) {
    params.set('sort_column', state.sort.column);
    params.set('sort_order', state.sort.order);
  }
  if (state.filter) {
    params.set('filter_column', state.filter.column);
    params.set('filter_op', state.filter.op);
    params.set('filter_value', state.filter.value || '');
  }
  return params;
}

async function rows(body, object, path) {
  const perPage = state.perPage || 100;
  const page = state.page || 1;
  const params = selection();
  params.set('limit', perPage);
  params.set('offset', (page - 1) * perPage);
  let data;
  try {
    data = await call(`tables/${path}/rows?${params}`);
  } catch (error) {
    if (error instanceof ApiError) fill(body, toolbar(object, path, state.columns || []), errorBox(error));
    return;
  }
  state.columns = data.columns;
  save();
  const p = data.pagination;
  const total = `${p.estimated ? '≈ ' : ''}${count(p.rows_count)} row${p.rows_count === 1 ? '' : 's'}`;
  const go = (n) => { state.page = n; save(); rows(body, object, path); };
  const pager = h('div', { class: 'pager' },
    h('button', { onclick: () => go(page - 1), disabled: page <= 1, 'aria-label': 'Previous page' }, '‹'),
    h('span', { 'aria-live': 'polite' }, `Page ${count(page)} of ${count(Math.max(p.pages_count, 1))} · ${total}`),
    h('button', { onclick: () => go(page + 1), disabled: !p.has_more, 'aria-label': 'Next page' }, '›'),
    h('label', {}, 'Per page ', h('select', {
      onchange: (e) => { state.perPage = Number(e.target.value); state.page = 1; save(); rows(body, object, path); },
    }, PAGE_SIZES.map((n) => h('option', { value: n, selected: n === perPage }, String(n))))));
  const sort = (column) => {
    const same = state.sort && state.sort.column === column;
    state.sort = same && state.sort.order === 'ASC' ? { column, order: 'DESC' } : same ? null : { column, order: 'ASC' };
    state.page = 1;
    save();
    rows(body, object, path);
  };
  fill(body, toolbar(object, path, data.columns), pager,
    data.rows.length
      ? grid({ columns: data.columns, rows: data.rows, types: data.column_types, sort: state.sort, onSort: sort, label: `Rows of ${object.name}` })
      : h('p', { class: 'muted' }, state.filter ? 'No rows match the filter.' : 'This table is empty.'));
}

function toolbar(object, path, columns) {
  const f = state.filter || {};
  const column = h('select', { 'aria-label': 'Filter column' }, columns.map((c) => h('option', { value: c, selected: c === f.column }, c)));
  const op = h('select', { 'aria-label': 'Filter operator' }, OPERATORS.map(([value, label]) => h('option', { value, selected: value === f.op }, label)));
  const value = h('input', { type: 'text', 'aria-label': 'Filter value', placeholder: 'value', value: f.value || '' });
  const sync = () => { value.hidden = op.value === 'null' || op.value === 'not_null'; };
  op.addEventListener('change', sync);
  sync();
  const apply = (e) => {
    e.preventDefault();
    state.filter = { column: column.value, op: op.value, value: value.value };
    state.page = 1;
    save();
    rows(e.target.closest('.object-body'), object, path);
  };
  const clear = (e) => {
    state.filter = null;
    state.page = 1;
    save();
    rows(e.target.closest('.object-body'), object, path);
  };
  value.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(e); });
  const exporter = (format) => h('button', {
    title: 'Every row the filter selects, in the order on screen',
    onclick: () => {
      const filename = `${object.schema}.${object.name}.${format}`;
      downloading(`Exporting ${object.name} as ${format.toUpperCase()}`, filename,
        (progress) => downloadRows(path, selection(), format, filename, progress));
    },
  }, format.toUpperCase());
  return h('div', { class: 'toolbar', role: 'search' },
    h('span', { class: 'label' }, 'Filter'), column, op, value,
    h('button', { class: 'primary', onclick: apply }, 'Apply'),
    state.filter && h('button', { onclick: clear }, 'Clear'),
    h('span', { class: 'spacer' }),
    policy.downloads && [h('span', { class: 'label' }, 'Export'), ['csv', 'json', 'xml'].map(exporter)]);
}
