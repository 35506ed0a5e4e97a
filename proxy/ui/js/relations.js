// Following foreign keys: a referencing value links to the row it names,
// and a row lists the rows that reference it, counted, each list one click
// away. Both are addresses (see address.js), so Back comes back.

import { h, fill, count, text } from './dom.js';
import { call, tablePath } from './api.js';
import { rowsAddress } from './address.js';

const tableOf = (schema, name) => ({ schema, name, kind: 'table' });

/** The filter that selects rows whose `columns` hold `values`; null when a value is NULL (it names no row). */
function matching(columns, values) {
  if (values.some((v) => v === null || v === undefined)) return null;
  return columns.map((column, i) => ({ column, op: 'equal', value: text(values[i]) }));
}

/**
 * For the grid's `cellLink`: the link of column `c` of a row (`value(name)`
 * reads the row's value of a column) to the row its foreign key names.
 */
export function linkFor(structure, column, value) {
  const key = structure?.foreign_keys.find((f) => f.columns.includes(column));
  if (!key) return null;
  const filters = matching(key.target_columns, key.columns.map(value));
  if (!filters) return null;
  return {
    href: rowsAddress(tableOf(key.schema, key.table), filters),
    label: `Open the ${key.schema}.${key.table} row it references`,
  };
}

/**
 * The "Referenced by" panel of one row: each referencing table's foreign
 * key with the number of rows that hold this row's key, as a link to them.
 */
export function referencedBy(structure, value, rowLabel) {
  const list = h('ul', { class: 'references' });
  const panel = h('section', { class: 'referenced-by', 'aria-label': `Rows referencing ${rowLabel}` },
    h('h3', {}, `Rows referencing ${rowLabel}`), list);
  fill(list, structure.referenced_by.map((ref) => {
    const name = `${ref.schema}.${ref.table}`;
    const via = `${ref.columns.join(', ')} → ${ref.target_columns.join(', ')}`;
    const item = h('li', {}, h('span', {}, name), h('span', { class: 'muted' }, ` (${via}): `), h('span', { class: 'muted' }, 'counting…'));
    const filters = matching(ref.columns, ref.target_columns.map(value));
    const result = (...nodes) => item.replaceChild(h('span', {}, ...nodes), item.lastChild);
    if (!ref.readable) {
      result(h('span', { class: 'muted' }, 'your role may not read this table'));
    } else if (!filters) {
      result(h('span', { class: 'muted' }, 'none (this row\'s key is NULL)'));
    } else {
      const params = new URLSearchParams({ limit: 1, count: 'exact', filters: JSON.stringify(filters) });
      call(`tables/${tablePath(ref.schema, ref.table)}/rows?${params}`).then((data) => {
        const n = data.pagination.rows_count;
        result(n
          ? h('a', { href: rowsAddress(tableOf(ref.schema, ref.table), filters) }, `${count(n)} row${n === 1 ? '' : 's'}`)
          : h('span', {}, 'no rows'));
      }, (error) => result(h('span', { class: 'error-text' }, `could not count: ${error.message}`)));
    }
    return item;
  }));
  return panel;
}
