// What the tab is showing, kept in sessionStorage and in the address (see
// address.js) so a reload or a reconnect comes back to the same view; and
// the shared error panel.

import { h, $, count, size } from './dom.js';
import { record } from './address.js';

const KEY = 'pgdoor.state';

/** The view state: `view`, `object`, `tab`, and the table view's paging, sort and filter. */
export const state = Object.assign({ view: 'sql', tab: 'rows', perPage: 100 }, JSON.parse(sessionStorage.getItem(KEY) || '{}'));

/**
 * The session's policy as /api/connection reports it (row cap, downloads,
 * environment, edits) and whether it is read-only; filled in at start-up.
 */
export const policy = { downloads: true };

/** Saves the state, and puts its address in the address bar (a history entry when the view changed). */
export function save() {
  sessionStorage.setItem(KEY, JSON.stringify(state));
  record(state);
}

/** An error panel: the message, the server's detail and hint, and what it was. */
export function errorBox(error, what) {
  const db = error.db || {};
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, what ? `${what}: ` : '', error.message),
    db.detail && h('p', {}, 'Detail: ', db.detail),
    db.hint && h('p', {}, 'Hint: ', db.hint),
    db.code && h('p', { class: 'muted' }, `SQLSTATE ${db.code}`));
}

/**
 * Follows a download in the notice line: `what…`, the bytes so far, then
 * what the file holds, or why it failed. `start(progress)` starts it and
 * resolves with its report (see api.js).
 */
export async function downloading(what, filename, start) {
  notice(`${what}…`, true);
  try {
    const report = await start((bytes) => notice(`${what}… ${size(bytes)} so far`, true));
    notice(`Exported ${report.rows != null ? `${count(report.rows)} rows, ` : ''}${size(report.bytes)}, as ${filename}.`);
  } catch (error) {
    notice(`Export failed: ${error.message}`);
  }
}

/** A short message at the bottom of the window; `null` hides it. */
export function notice(message, sticky) {
  const el = $('#notice');
  clearTimeout(notice.timer);
  el.textContent = message || '';
  el.hidden = !message;
  if (message && !sticky) notice.timer = setTimeout(() => { el.hidden = true; }, 4000);
}
