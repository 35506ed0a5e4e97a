// The cell viewer: a dialog with the whole value (JSON pretty-printed) and
// buttons to copy the value or the whole row.

import { $, fill, copy, text } from './dom.js';

/** Shows one value; `row` is the whole row as an object, for "Copy row". */
export function openCell({ column, value, row }) {
  const dialog = $('#cell-dialog');
  const shown = pretty(value);
  fill($('#cell-title', dialog), column, value === null ? ' (NULL)' : '');
  fill($('#cell-text', dialog), shown);
  $('#cell-copy', dialog).onclick = (e) => copy(value === null ? '' : shown, e.target);
  $('#cell-copy-row', dialog).onclick = (e) => copy(JSON.stringify(row, null, 2), e.target);
  $('#cell-close', dialog).onclick = () => dialog.close();
  dialog.showModal();
}

function pretty(value) {
  const raw = text(value);
  if (typeof value === 'string' && /^\s*[[{]/.test(value)) {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch { /* not JSON */ }
  }
  return raw;
}
