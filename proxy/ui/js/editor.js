// The SQL editor: query tabs (see workspace.js), a textarea over a
// highlighted copy of its text, completion of keywords, schemas, tables and
// columns, Ctrl/Cmd+Enter to run the selection or the statement under the
// cursor, Explain, Analyze, Cancel, the server's error marked at its
// position, each tab's last result and its exports. Every run is kept in
// the browser's history (see journal.js).

import { h, fill, $, count } from './dom.js';
import { call, download, tablePath } from './api.js';
import { errorBox, notice, policy, downloading } from './state.js';
import { grid } from './grid.js';
import { tokenize, statementAt } from './sql.js';
import { catalogFor, refreshAfter, onReload } from './sidebar.js';
import { suggest, searchPath, wordBefore } from './complete.js';
import * as transaction from './transaction.js';
import { saveRows } from './localexport.js';
import * as workspace from './workspace.js';
import * as journal from './journal.js';
import { planOf, planTree, planText } from './plan.js';
import { scriptOutcome, failedScript } from './outcomes.js';

/** Words that make a statement write: EXPLAIN ANALYZE of one asks first. */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'TRUNCATE', 'CREATE', 'DROP', 'ALTER', 'INTO', 'REFRESH', 'CALL', 'COPY']);

/** The first word of `sql` that writes, outside strings and comments; null for none found. */
function writes(sql) {
  const word = tokenize(sql).find((t) => (t.type === 'kw' || t.type === 'word') && WRITES.has(t.text.toUpperCase()));
  return word ? word.text.toUpperCase() : null;
}

/** Command tags of statements that only read: their result may be run again, read-only, to export it all. */
const READS = new Set(['SELECT', 'SHOW', 'TABLE', 'VALUES', 'EXPLAIN', 'FETCH']);

/** A statement the session's end kept from running, told after the reconnect. */
const UNRUN_KEY = 'pgdoor.unrun';
let area = null;
/** Each tab's last run: `{sql, start, kind, data | error | pending | unrun}`. */
const results = new Map();
let last = null;
let running = null; // {sql, controller, tab, started}
let output = null;
let strip = null;
const columnCache = new Map();
let path = [];
// The schema may have changed: columns are asked again.
onReload(() => columnCache.clear());

/** Opens `sql` in a tab (the open one when it is empty, else a new one); with `run`, runs it there. */
export function openInTab(sql, run) {
  keep();
  const current = workspace.active();
  if (current && !current.text.trim()) workspace.setText(current.id, sql);
  else if (!workspace.add(sql)) notice(`There are ${workspace.MAX_TABS} query tabs already: close one first.`);
  if (run) sessionStorage.setItem(UNRUN_KEY, JSON.stringify({ sql, kind: 'query', tab: workspace.active().id, asked: true }));
}

/** Saves the editor text now (before a reconnect). */
export function keep() {
  if (area) workspace.setText(workspace.active().id, area.value);
}

/** Called when another view is shown. */
export function leave() {
  keep();
  area = null;
}

/** Draws the editor. */
export function render(main, connection) {
  area = h('textarea', {
    id: 'sql', spellcheck: false, autocapitalize: 'off', autocomplete: 'off', 'aria-label': 'SQL',
    placeholder: 'SELECT … — Ctrl+Enter runs the statement under the cursor or the selection',
  });
  const tab = workspace.active();
  path = searchPath(connection.current_schemas);
  area.value = tab.text;
  last = results.get(tab.id) || null;
  const unrun = takeUnrun();
  strip = h('div', { class: 'query-tabs' });
  drawTabs();
  const layer = h('pre', { class: 'highlight', 'aria-hidden': 'true' });
  const list = h('ul', { class: 'complete', role: 'listbox', id: 'complete', hidden: true, 'aria-label': 'Completions' });
  area.setAttribute('aria-controls', 'complete');
  const cancel = h('button', { id: 'cancel', class: 'danger', onclick: stop, disabled: !running }, 'Cancel');
  output = h('section', { class: 'output', 'aria-live': 'polite', 'aria-label': 'Result' });
  const saving = h('div', { class: 'save-holder' });
  fill(main, h('div', { class: 'editor-pane' }, strip,
    h('div', { class: 'toolbar' },
      h('button', { id: 'run', class: 'primary', onclick: () => run('query'), title: 'Ctrl+Enter' }, 'Run'),
      h('button', { onclick: () => run('explain') }, 'Explain'),
      h('button', { onclick: () => run('analyze'), title: 'Runs the statement and shows its real plan' }, 'Explain Analyze'),
      cancel,
      h('button', { onclick: () => saveForm(saving), title: 'Keep this query under a name, in this browser' }, 'Save query'),
      connection.readonly && h('span', { class: 'badge' }, 'read-only'),
      h('span', { class: 'spacer' }),
      policy.downloads && [h('span', { class: 'label' }, 'Export result'),
        ['csv', 'json', 'xml'].map((format) => h('button', { onclick: () => exportResult(format), class: 'export' }, format.toUpperCase()))]),
    saving,
    h('div', { class: 'editor' }, layer, area, list)), output);
  area.addEventListener('input', () => { paint(); complete(false); workspace.setText(workspace.active().id, area.value); });
  area.addEventListener('scroll', () => { layer.scrollTop = area.scrollTop; layer.scrollLeft = area.scrollLeft; });
  area.addEventListener('keydown', keys);
  area.addEventListener('blur', () => setTimeout(() => { list.hidden = true; }, 150));
  paint();
  show();
  area.focus();
  if (unrun?.asked) run(unrun.kind, { sql: unrun.sql, start: 0 });
}

function paint(mark) {
  const layer = area?.previousElementSibling;
  if (!layer) return;
  const text = area.value;
  const parts = [];
  for (const token of tokenize(text)) {
    const inside = mark != null && mark >= token.start && mark < token.start + token.text.length;
    if (token.type === 'ws' && !inside) parts.push(token.text);
    else parts.push(h('span', { class: `t-${token.type}${inside ? ' err-pos' : ''}` }, token.text));
  }
  parts.push('\n ');
  fill(layer, parts);
}

function keys(event) {
  const list = $('#complete');
  if (!list.hidden) {
    const options = [...list.children];
    const index = options.findIndex((o) => o.getAttribute('aria-selected') === 'true');
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      const next = (index + (event.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length;
      options.forEach((o, i) => o.setAttribute('aria-selected', String(i === next)));
      area.setAttribute('aria-activedescendant', options[next].id);
      event.preventDefault();
      return;
    }
    if (event.key === 'Enter' || event.key === 'Tab') {
      if (!(event.ctrlKey || event.metaKey)) {
        accept(options[Math.max(index, 0)].dataset.word);
        event.preventDefault();
        return;
      }
    }
    if (event.key === 'Escape') { list.hidden = true; event.preventDefault(); return; }
  }
  // Esc, then Tab, leaves the editor as Tab leaves any field; otherwise Tab indents.
  const escaped = keys.escaped;
  keys.escaped = event.key === 'Escape';
  if ((event.ctrlKey || event.metaKey) && event.key === 'Enter') {
    event.preventDefault();
    run('query');
  } else if (event.ctrlKey && event.key === ' ') {
    event.preventDefault();
    complete(true);
  } else if (event.key === 'Tab' && !event.shiftKey && !escaped) {
    event.preventDefault();
    area.setRangeText('  ', area.selectionStart, area.selectionEnd, 'end');
    paint();
  }
}

/** The statement to run: the selection, or the statement under the cursor. */
function target() {
  const { selectionStart: from, selectionEnd: to, value } = area;
  if (to > from && value.slice(from, to).trim()) {
    const raw = value.slice(from, to);
    return { sql: raw.trim(), start: from + raw.length - raw.trimStart().length };
  }
  const statement = statementAt(value, from);
  return { sql: statement.text, start: statement.start };
}

async function run(kind, given) {
  if (!area) return;
  if (running) {
    const where = workspace.tabs().find((t) => t.id === running.tab);
    notice(`A query is running${where && where.id !== workspace.active().id ? ` in “${where.name}”` : ''}: wait for it, or Cancel it.`);
    return;
  }
  $('#complete').hidden = true;
  const { sql, start, rollback } = given || target();
  if (!sql) { notice('Type a statement first.'); return; }
  const writer = kind === 'analyze' && !given?.confirmed && !policy.readonly && writes(sql);
  if (writer) {
    // EXPLAIN ANALYZE runs the statement: one that writes asks first.
    last = { sql, start, kind, ask: writer };
    results.set(workspace.active().id, last);
    show();
    return;
  }
  const controller = new AbortController();
  const tab = workspace.active().id;
  const at = new Date().toISOString();
  running = { sql, controller, tab, started: performance.now() };
  const settle = (outcome) => {
    results.set(tab, { sql, start, kind, ...outcome });
    if (workspace.active().id === tab) last = results.get(tab);
  };
  settle({ pending: true });
  performance.mark('pgdoor:run');
  show();
  drawTabs();
  const ticker = setInterval(() => { if (running?.tab === tab && last?.pending) elapsed(); }, 200);
  try {
    const form = kind === 'query' ? { query: sql } : { query: sql, plan: 'json', ...(rollback ? { rollback: 'true' } : {}) };
    const data = await call(kind, { form, signal: controller.signal });
    settle({ data });
    journal.record({ sql, kind, at, ms: Math.round(data.stats?.query_duration_ms ?? 0), rows: affected(data) });
    transaction.track(data.transaction);
    refreshAfter(data);
  } catch (error) {
    if (error.name === 'AbortError') return;
    if (error.code === 'session_gone' || error.code === 'session_required') {
      // The session ended before the statement ran: the tab reconnects (see
      // main.js), then says so and offers to run it.
      sessionStorage.setItem(UNRUN_KEY, JSON.stringify({ sql, kind, tab }));
    } else {
      journal.record({ sql, kind, at, ms: Math.round(performance.now() - running.started), rows: null, error: error.message });
    }
    settle({ error });
    transaction.track(error.transaction);
  } finally {
    clearInterval(ticker);
    running = null;
  }
  show();
  drawTabs();
}

/** The rows a result returned, or the rows its statements changed. */
function affected(data) {
  if (data.columns.length) return data.stats?.rows_count ?? data.rows.length;
  return (data.statements || []).reduce((n, s) => n + (s.rows_affected || 0), 0);
}

/**
 * Takes a statement the session's end kept from running (shown on its tab
 * with an offer to run it), or one the history asked to run (`asked`).
 */
function takeUnrun() {
  const kept = sessionStorage.getItem(UNRUN_KEY);
  if (!kept) return null;
  sessionStorage.removeItem(UNRUN_KEY);
  const unrun = JSON.parse(kept);
  if (!workspace.tabs().some((t) => t.id === unrun.tab)) return null;
  workspace.select(unrun.tab);
  area.value = workspace.active().text;
  if (!unrun.asked) {
    last = { sql: unrun.sql, start: 0, kind: unrun.kind, unrun };
    results.set(unrun.tab, last);
  }
  return unrun;
}

/** Updates the running time on screen. */
function elapsed() {
  const shown = output?.querySelector('.running');
  if (shown && running) shown.textContent = `Running… ${((performance.now() - running.started) / 1000).toFixed(1)} s`;
}

/** The tab strip: select, rename (double-click or F2), close (× or Delete), reorder (drag, or Alt+Shift+←/→), add. */
function drawTabs() {
  if (!strip) return;
  const all = workspace.tabs();
  const current = workspace.active();
  const choose = (id) => {
    if (id !== workspace.active().id) {
      keep();
      workspace.select(id);
    }
    if (!area) return;
    area.value = workspace.active().text;
    last = results.get(id) || null;
    // In place, not drawn again: a double-click's second click finds the same tab.
    for (const el of strip.querySelectorAll('[role=tab]')) {
      const on = el.id === `qtab-${id}`;
      el.setAttribute('aria-selected', String(on));
      el.tabIndex = on ? 0 : -1;
    }
    strip.querySelector('.close-tab').title = `Close ${workspace.active().name}`;
    show();
  };
  const renameAt = (button, tab) => {
    const field = h('input', { value: tab.name, 'aria-label': `New name of ${tab.name}`, class: 'tab-name' });
    const done = (commit) => { if (commit) workspace.rename(tab.id, field.value); drawTabs(); strip.querySelector('[aria-selected=true]')?.focus(); };
    field.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); done(true); }
      if (e.key === 'Escape') { e.preventDefault(); done(false); }
    });
    field.addEventListener('blur', () => done(true));
    button.replaceWith(field);
    field.select();
  };
  const closeTab = (tab) => {
    if (running?.tab === tab.id) { notice(`“${tab.name}” is running a query: cancel it or wait before closing the tab.`); return; }
    results.delete(tab.id);
    workspace.close(tab.id);
    drawTabs();
    choose(workspace.active().id);
  };
  const buttons = all.map((tab, i) => {
    const selected = tab.id === current.id;
    const busy = running?.tab === tab.id;
    const button = h('button', {
      role: 'tab', id: `qtab-${tab.id}`, 'aria-selected': String(selected), tabindex: selected ? 0 : -1, draggable: 'true',
      class: busy ? 'busy' : false, title: `${tab.name}${busy ? ' (running)' : ''}: double-click or F2 renames, Delete closes, Alt+Shift+←/→ moves`,
      onclick: () => choose(tab.id),
      ondblclick: (e) => renameAt(e.currentTarget, tab),
      onauxclick: (e) => { if (e.button === 1) closeTab(tab); },
      ondragstart: (e) => e.dataTransfer.setData('text/x-pgdoor-tab', tab.id),
      ondragover: (e) => e.preventDefault(),
      ondrop: (e) => {
        e.preventDefault();
        const moved = e.dataTransfer.getData('text/x-pgdoor-tab');
        if (moved && moved !== tab.id) { workspace.move(moved, 0, tab.id); drawTabs(); }
      },
      onkeydown: (e) => {
        const step = { ArrowLeft: -1, ArrowRight: 1 }[e.key];
        if (step && e.altKey && e.shiftKey) {
          workspace.move(tab.id, step);
          drawTabs();
          strip.querySelector(`#qtab-${tab.id}`)?.focus();
        } else if (step) {
          const next = all[(i + step + all.length) % all.length];
          choose(next.id);
          strip.querySelector(`#qtab-${next.id}`)?.focus();
        } else if (e.key === 'F2') {
          renameAt(e.currentTarget, tab);
        } else if (e.key === 'Delete') {
          closeTab(tab);
          strip.querySelector('[aria-selected=true]')?.focus();
        } else return;
        e.preventDefault();
      },
    }, tab.name, busy && h('span', { class: 'run-mark' }, ' ● running'),
    h('span', { class: 'tab-close', 'aria-hidden': 'true', title: `Close ${tab.name}`, onclick: (e) => { e.stopPropagation(); closeTab(tab); } }, '×'));
    return button;
  });
  fill(strip, h('div', { role: 'tablist', 'aria-label': 'Query tabs' }, buttons),
    h('button', {
      class: 'icon', 'aria-label': 'New query tab', title: 'New query tab',
      onclick: () => {
        keep();
        if (!workspace.add('')) { notice(`There are ${workspace.MAX_TABS} query tabs already: close one first.`); return; }
        drawTabs();
        choose(workspace.active().id);
        area?.focus();
      },
    }, '+'),
    h('button', { class: 'close-tab', title: `Close ${current.name}`, onclick: () => closeTab(workspace.active()) }, 'Close tab'));
}

// Another tab of this browser changed the tabs: follow, unless typing here.
workspace.onChangeElsewhere(() => {
  if (!area?.isConnected || document.activeElement === area) return;
  const text = workspace.active().text;
  if (area.value !== text) { area.value = text; paint(); }
  drawTabs();
});

/** The form that saves the editor's text as a named query. */
function saveForm(holder) {
  const text = area.value.trim();
  if (!text) { notice('Type a query first.'); return; }
  const name = h('input', { value: workspace.active().name, 'aria-label': 'Name of the saved query', required: true, maxlength: 80 });
  const form = h('form', {
    class: 'toolbar save-form',
    onsubmit: (e) => {
      e.preventDefault();
      if (!name.value.trim()) return;
      const ok = journal.save(name.value.trim(), text);
      notice(ok ? `Saved “${name.value.trim()}”: find it under History.` : `There are ${journal.MAX_SAVED} saved queries already: remove one first.`);
      fill(holder);
      area.focus();
    },
  }, h('label', {}, 'Save as ', name), h('button', { class: 'primary', type: 'submit' }, 'Save'),
  h('button', { type: 'button', onclick: () => { fill(holder); area.focus(); } }, 'Cancel'));
  fill(holder, form);
  name.select();
}

/**
 * Cancels the running statement. A cancel that reaches the server before
 * the statement does is lost, so it is sent again while the statement runs.
 */
async function stop() {
  const current = running;
  for (let attempt = 0; current && running === current && attempt < 5; attempt++) {
    try {
      await call('cancel', { method: 'POST' });
    } catch (error) {
      notice(`Could not cancel: ${error.message}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 600));
  }
}

/** Draws the state of the last run into the output area. */
function show() {
  const cancel = $('#cancel');
  if (cancel) cancel.disabled = !running;
  if (!output || !output.isConnected) return;
  for (const b of document.querySelectorAll('.export')) b.disabled = !last || last.pending;
  if (!last) { fill(output, h('p', { class: 'muted' }, 'Results appear here.')); paint(); return; }
  if (last.pending) { fill(output, h('p', { class: 'muted running' }, 'Running…')); elapsed(); paint(); return; }
  if (last.ask) {
    const { sql, start, ask } = last;
    const safe = h('button', { class: 'primary', onclick: () => run('analyze', { sql, start, rollback: true, confirmed: true }) },
      'Run it in a transaction that is rolled back');
    fill(output, h('div', { class: 'warning', role: 'alert' },
      h('strong', {}, 'EXPLAIN ANALYZE runs the statement. '), `This one writes (${ask}): what it changes would be kept. `,
      h('div', { class: 'toolbar' }, safe,
        h('button', { onclick: () => run('analyze', { sql, start, confirmed: true }) }, 'Run it for real'),
        h('button', { onclick: () => { last = null; results.delete(workspace.active().id); show(); area.focus(); } }, 'Cancel'))));
    paint();
    safe.focus();
    return;
  }
  if (last.unrun) {
    const { sql, kind } = last.unrun;
    fill(output, h('div', { class: 'warning lost', role: 'alert' },
      h('strong', {}, 'Not run. '), 'The session had ended (it expired, or pgdoor restarted), so this tab opened a new one. ',
      'This statement did not run; anything the old session held (an open transaction, settings, temporary tables) is gone.',
      h('pre', { class: 'code' }, sql), h('button', { class: 'primary', onclick: () => run(kind, { sql, start: 0 }) }, 'Run it now')));
    paint();
    return;
  }
  if (last.error) {
    const db = last.error.db;
    let where = null;
    if (db && db.position && area && area.value.slice(last.start, last.start + last.sql.length) === last.sql) {
      const offset = last.start + db.position - 1;
      const before = area.value.slice(0, offset).split('\n');
      where = h('p', { class: 'position' }, `At line ${before.length}, column ${before.at(-1).length + 1}`);
      paint(offset);
      area.setSelectionRange(offset, offset);
    } else paint();
    const cancelled = last.error.code === 'cancelled';
    const failed = last.error.transaction === 'failed' && h('div', { class: 'warning', role: 'note' },
      'Your transaction has failed: the server refuses every statement in it until it ends. ',
      h('button', { onclick: () => transaction.end('ROLLBACK') }, 'Roll back'));
    fill(output, cancelled ? h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'Query cancelled.')) : errorBox(last.error), where, failed,
      failedScript(last.error, last.sql));
    return;
  }
  paint();
  const d = last.data;
  const plan = last.kind !== 'query' && planOf(d);
  if (plan) {
    const analyzed = last.kind === 'analyze';
    fill(output,
      d.rolled_back && h('p', { class: 'note-box', role: 'note' }, 'Ran inside a transaction that was rolled back: nothing it changed was kept.'),
      planTree(plan, analyzed),
      h('details', { class: 'plan-text' }, h('summary', {}, 'The plan as text'), h('pre', { class: 'code' }, planText(plan, analyzed))));
    return;
  }
  const ms = d.stats?.query_duration_ms ?? 0;
  const rowsText = d.columns.length === 1 && d.columns[0] === 'Rows Affected'
    ? `${count(d.rows[0][0])} rows affected`
    : `${count(d.stats.rows_count)} row${d.stats.rows_count === 1 ? '' : 's'}`;
  fill(output,
    h('p', { class: 'status' }, `${rowsText} in ${count(ms)} ms`, d.command ? ` · ${d.command}` : '',
      d.transaction === 'in_transaction' ? ' · in a transaction' : '', d.transaction === 'failed' ? ' · transaction failed: ROLLBACK' : ''),
    d.state_lost && h('div', { class: 'warning lost', role: 'alert' }, h('strong', {}, 'Reconnected. '), d.state_lost.message),
    d.truncated && h('p', { class: 'warning', role: 'note' },
      `Showing the first ${count(d.rows.length)} of ${count(d.rows_total)} rows`,
      d.truncated_by === 'bytes' ? ': the rest is more data than pgdoor keeps for the screen.' : '.',
      policy.downloads && last.kind === 'query' && onlyReads(d) && [' ',
        h('button', { onclick: () => runIntoFile('csv'), title: 'Runs the statement once more, read-only, straight into a file' },
          'Run again into a CSV file')]),
    d.notices_dropped > 0 && h('p', { class: 'warning', role: 'note' },
      `${count(d.notices_dropped)} more notices were not kept: pgdoor keeps the first ${count(d.notices.length)}.`),
    (d.notices || []).map((n) => h('p', { class: 'notice' }, `${n.severity}: ${n.message}`)),
    scriptOutcome(d, last.sql),
    d.columns.length ? grid({ columns: d.columns, rows: d.rows, types: d.column_types }) : null);
  // User Timing: from Run to the result drawn, once the browser has painted it.
  requestAnimationFrame(() => setTimeout(() => performance.measure('pgdoor:result-drawn', 'pgdoor:run')));
}

/** True when the result came from statements that only read, so running it again (read-only) is safe. */
function onlyReads(data) {
  const statements = data.statements || [];
  return statements.length === 1 && READS.has((statements[0].command || '').split(' ')[0]);
}

/**
 * Exports the result on screen: nothing runs again. When the screen holds
 * only the first rows (the cap), the notice says so; a read can then be run
 * once more, read-only, straight into a file (`runIntoFile`), by choice.
 */
function exportResult(format) {
  if (!last || last.pending || last.error) return;
  const d = last.data;
  const n = d.rows.length;
  saveRows(format, d.columns, d.rows, filename(format));
  if (!d.truncated) {
    notice(`Exported ${n === 1 ? 'the only row' : `all ${count(n)} rows`} from the screen: nothing ran again.`);
    return;
  }
  const again = last.kind === 'query' && onlyReads(d) && policy.downloads
    ? ' Use “Run again into a CSV file” for all of them (it runs the statement once more, read-only).'
    : last.kind === 'query' && !onlyReads(d) ? ' The statement changes data, so pgdoor does not run it again.' : '';
  notice(`Exported the rows on screen, the first ${count(n)} of ${count(d.rows_total)} rows.${again}`, true);
}

const filename = (format) => `query-${new Date().toISOString().slice(0, 19).replaceAll(':', '')}.${format}`;

/** Runs a read once more, read-only, as a download streamed to disk: the person chose it. */
async function runIntoFile(format) {
  if (!last || last.pending || last.kind !== 'query') return;
  const name = filename(format);
  const sql = last.sql;
  await downloading(`Running the statement again into ${name}`, name, (progress) => download(sql, format, name, progress));
}

// Completion.

const typedWord = () => wordBefore(area.value.slice(0, area.selectionStart));

async function columnsOf({ schema, name }) {
  const key = `${schema}.${name}`;
  if (!columnCache.has(key)) {
    columnCache.set(key, call(`tables/${tablePath(schema, name)}`).then((d) => d.rows.map((r) => r[0])).catch(() => []));
  }
  return columnCache.get(key);
}

async function complete(forced) {
  const list = $('#complete');
  const { qualifier, word } = typedWord();
  if (!forced && !qualifier && word.length < 2) { list.hidden = true; return; }
  // The schemas the text names (and the path) are read first; in a big catalog, the names holding the word too.
  const named = (area.value.match(/("(?:[^"]|"")*"|[\p{L}_][\p{L}\p{N}_$]*)(?=\s*\.)/gu) || [])
    .map((n) => (n.startsWith('"') ? n.slice(1, -1).replaceAll('""', '"') : n.toLowerCase()));
  const known = await catalogFor({ schemas: [...new Set([...path, ...named])], term: qualifier ? null : word });
  const found = (await suggest({ sql: area.value, offset: area.selectionStart, catalog: known, path, columnsOf })).slice(0, 8);
  if (!area || !found.length) { list.hidden = true; return; }
  fill(list, found.map((c, i) => h('li', {
    role: 'option', id: `complete-${i}`, 'aria-selected': String(i === 0), dataset: { word: c.insert },
    onmousedown: (e) => { e.preventDefault(); accept(c.insert); },
  }, c.label, h('span', { class: 'kind-hint' }, c.kind))));
  const before = area.value.slice(0, area.selectionStart).split('\n');
  const style = getComputedStyle(area);
  const line = parseFloat(style.lineHeight);
  const char = measureChar(style);
  list.style.left = `${Math.min(before.at(-1).length * char - area.scrollLeft + parseFloat(style.paddingLeft), area.clientWidth - 200)}px`;
  list.style.top = `${before.length * line - area.scrollTop + parseFloat(style.paddingTop) + 2}px`;
  list.hidden = false;
}

function accept(word) {
  const { word: typed } = typedWord();
  area.setRangeText(word, area.selectionStart - typed.length, area.selectionStart, 'end');
  $('#complete').hidden = true;
  area.removeAttribute('aria-activedescendant');
  paint();
  workspace.setText(workspace.active().id, area.value);
  area.focus();
}

function measureChar(style) {
  if (!measureChar.width) {
    const probe = h('span', { style: `font:${style.font};position:absolute;visibility:hidden` }, 'x'.repeat(100));
    document.body.append(probe);
    measureChar.width = probe.getBoundingClientRect().width / 100;
    probe.remove();
  }
  return measureChar.width;
}
