// Files made from rows the page already holds, for the editor's exports:
// pgdoor never runs a statement again to export its result. CSV (RFC 4180),
// JSON and XML in the same shapes as pgdoor's own downloads.

import { save } from './dom.js';

const TYPES = { csv: 'text/csv', json: 'application/json', xml: 'application/xml' };

const asText = (value) => (value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));

function csvField(value) {
  const text = asText(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// XML 1.0 cannot hold most control characters: they are dropped.
const xmlText = (text) => text.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
  .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

const xmlValue = (value) => (value === null ? '<Value null="true"/>'
  : `<Value>${xmlText(typeof value === 'string' ? value : JSON.stringify(value))}</Value>`);

/** The file's text for `columns` and `rows` in `format`. */
export function render(format, columns, rows) {
  if (format === 'csv') return [columns, ...rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
  if (format === 'json') {
    const objects = rows.map((row) => JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, row[i]]))));
    return `[${objects.length ? `\n${objects.join(',\n')}` : ''}\n]\n`;
  }
  return '<?xml version="1.0" encoding="UTF-8"?>\n<Result>\n<Columns>'
    + columns.map((c) => `<Column>${xmlText(c)}</Column>`).join('') + '</Columns>\n<Rows>\n'
    + rows.map((row) => `<Row>${row.map(xmlValue).join('')}</Row>\n`).join('') + '</Rows>\n</Result>\n';
}

/** Saves `rows` as `filename`. */
export function saveRows(format, columns, rows, filename) {
  save(new Blob([render(format, columns, rows)], { type: TYPES[format] }), filename);
}
