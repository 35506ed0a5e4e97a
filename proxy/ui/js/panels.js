// History (with the saved queries), activity (with cancel of this session's
// own statement) and the connection page (who and where, and the server's settings).

import { h, fill, count, size } from './dom.js';
import { call, ApiError } from './api.js';
import { errorBox, notice } from './state.js';
import * as journal from './journal.js';
import { grid } from './grid.js';

function failed(main, error) {
  if (error instanceof ApiError) fill(main, errorBox(error));
}

/** Whether a statement the server's session history holds is one this browser kept (same text, within 10 s). */
const sameRun = (server, local) => server.query === local.sql && Math.abs(Date.parse(server.timestamp) - Date.parse(local.at)) < 10000;

/**
 * The history: every statement this browser ran on this link (kept in
 * localStorage), merged with the session's history on the server, newest
 * first, searchable, each one openable or runnable in a query tab; and the
 * saved queries.
 */
export async function history(main, openInEditor) {
  let server = [];
  try {
    server = await call('history');
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
  }
  const local = journal.entries();
  const merged = [...local, ...server.filter((s) => !local.some((l) => sameRun(s, l)))
    .map((s) => ({ sql: s.query, at: s.timestamp, fromServer: true }))]
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  const search = h('input', { type: 'search', placeholder: 'Search the history', 'aria-label': 'Search the history' });
  const list = h('div', {});
  const savedList = h('div', {});
  const actions = (sql, what) => [
    h('button', { onclick: () => openInEditor(sql), 'aria-label': `Open ${what} in a query tab` }, 'Open'),
    h('button', { onclick: () => openInEditor(sql, true), 'aria-label': `Run ${what} in a query tab` }, 'Run'),
  ];
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = merged.filter((e) => !q || e.sql.toLowerCase().includes(q));
    fill(list, shown.length ? h('ol', { class: 'history' }, shown.map((e, i) => h('li', { class: e.error ? 'failed' : false },
      h('div', { class: 'history-facts' },
        h('time', { datetime: e.at }, new Date(e.at).toLocaleString()),
        e.fromServer ? h('span', { class: 'muted' }, 'from the session on the server') : [
          h('span', {}, `${count(e.ms)} ms`),
          e.error ? h('span', { class: 'error-text' }, `failed: ${e.error}`) : e.rows != null && h('span', {}, `${count(e.rows)} row${e.rows === 1 ? '' : 's'}`),
          e.kind && e.kind !== 'query' && h('span', { class: 'badge mark' }, e.kind.toUpperCase())],
        actions(e.sql, `statement ${i + 1}`)),
      h('pre', { class: 'history-query' }, e.sql))))
      : h('p', { class: 'muted' }, q ? 'Nothing in the history matches.' : 'Nothing has run on this link in this browser yet.'));
  };
  const drawSaved = () => {
    const all = journal.saved();
    fill(savedList, all.length ? h('ul', { class: 'saved' }, all.map((q) => h('li', {},
      h('strong', {}, q.name), ' ', actions(q.sql, `saved query ${q.name}`),
      h('button', { class: 'danger', onclick: () => { journal.remove(q.name); drawSaved(); }, 'aria-label': `Remove saved query ${q.name}` }, 'Remove'),
      h('pre', { class: 'history-query' }, q.sql))))
      : h('p', { class: 'muted' }, 'No saved queries yet: “Save query” in the editor keeps one here.'));
  };
  search.addEventListener('input', draw);
  fill(main, h('h2', {}, 'Saved queries'), savedList,
    h('div', { class: 'toolbar' }, h('h2', {}, 'History'), search,
      h('span', { class: 'muted' }, `Kept in this browser for this link, the last ${count(journal.MAX_ENTRIES)} statements at most.`),
      h('button', {
        class: 'danger', title: 'Forget the statements this browser kept for this link (saved queries stay)',
        onclick: () => { journal.clear(); history(main, openInEditor); },
      }, 'Clear this browser’s history')),
    list);
  draw();
  drawSaved();
}

/** The database's backends; this session's own statement can be cancelled. */
export async function activity(main, connection) {
  try {
    const data = await call('activity');
    const pid = data.columns.indexOf('pid');
    const own = data.rows.filter((r) => r[pid] === connection.editor_pid);
    const keep = ['pid', 'usename', 'application_name', 'client_addr', 'state', 'query_start', 'wait_event', 'query']
      .map((c) => data.columns.indexOf(c)).filter((i) => i >= 0);
    const state = data.columns.indexOf('state');
    const busy = own.some((r) => r[state] === 'active');
    fill(main, h('div', { class: 'toolbar' }, h('h2', {}, 'Activity'),
      h('button', { onclick: () => activity(main, connection) }, 'Refresh'),
      h('button', {
        class: 'danger', disabled: !busy, title: 'Cancels the statement this session is running',
        onclick: async () => {
          const { success } = await call('cancel', { method: 'POST' });
          notice(success ? 'Cancel sent.' : 'Nothing to cancel.');
          setTimeout(() => activity(main, connection), 300);
        },
      }, busy ? 'Cancel my running query' : 'No query of mine is running')),
    grid({
      columns: keep.map((i) => data.columns[i]),
      rows: data.rows.map((r) => keep.map((i) => r[i])),
      types: keep.map((i) => data.column_types[i]),
      label: 'Server activity',
    }));
  } catch (error) {
    failed(main, error);
  }
}

/** The session's limits as the backend and pgdoor's flags set them. */
function limits(policy) {
  const seconds = (s) => (s == null ? 'none' : s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
  return [
    policy.environment && [h('dt', {}, 'Environment'), h('dd', {}, policy.environment)],
    [h('dt', {}, 'Statement timeout'), h('dd', {}, seconds(policy.statement_timeout))],
    policy.max_rows != null && [h('dt', {}, 'Results'), h('dd', {}, `capped at ${count(policy.max_rows)} rows and ${size(policy.max_result_bytes)}`)],
    [h('dt', {}, 'Idle timeout'), h('dd', {}, seconds(policy.idle_timeout))],
    [h('dt', {}, 'Session lifetime'), h('dd', {}, seconds(policy.lifetime))],
    [h('dt', {}, 'Downloads'), h('dd', {}, policy.downloads === false ? 'not allowed for this link' : 'allowed')],
  ];
}

/** Connection facts (never a secret) and the server settings, filterable. */
export async function server(main, connection) {
  const facts = {
    label: 'Label', current_database: 'Database', current_user: 'User', session_user: 'Session user',
    current_schemas: 'Search path', version: 'Server', inet_server_addr: 'Address', inet_server_port: 'Port',
  };
  const settings = h('div', {}, h('p', { class: 'muted' }, 'Loading settings…'));
  fill(main, h('h2', {}, 'Connection'),
    h('dl', { class: 'facts' }, Object.entries(facts).filter(([k]) => connection[k] != null).map(([k, title]) => [
      h('dt', {}, title), h('dd', {}, String(connection[k])),
    ]), h('dt', {}, 'Access'), h('dd', {}, connection.readonly ? 'read-only' : 'read and write'),
    limits(connection.policy || {})),
    h('h2', {}, 'Server settings'), settings);
  try {
    const data = await call('server_settings');
    const keep = ['name', 'setting', 'unit', 'category', 'short_desc'].map((c) => data.columns.indexOf(c));
    const rows = data.rows.map((r) => keep.map((i) => r[i]));
    const filter = h('input', { type: 'search', placeholder: 'Filter settings', 'aria-label': 'Filter settings' });
    const holder = h('div', {});
    const draw = () => {
      const q = filter.value.toLowerCase();
      const shown = rows.filter((r) => !q || r.some((v) => String(v ?? '').toLowerCase().includes(q)));
      fill(holder, grid({ columns: keep.map((i) => data.columns[i]), rows: shown, label: 'Server settings' }));
    };
    filter.addEventListener('input', draw);
    fill(settings, filter, holder);
    draw();
  } catch (error) {
    failed(settings, error);
  }
}
