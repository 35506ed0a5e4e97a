// Talking to pgdoor: the tab's session id (from `#session=`, kept in
// sessionStorage and sent as X-Session-ID), JSON errors as ApiError, and the
// automatic reconnect through /connect/<resource> when the session is gone.

import { h } from './dom.js';

const SESSION_KEY = 'session_id';
const RESOURCE_KEY = 'pgdoor.resource';
const RECONNECT_KEY = 'pgdoor.reconnecting';

/** An error the API answered, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || (status ? 'http_error' : 'network');
    this.db = body.db_error || null;
    this.transaction = body.transaction || null;
    this.body = body;
  }
}

/** Takes `#session=` (or an older link's `?session=`) into sessionStorage and removes it from the address bar. */
export function takeSession() {
  const url = new URL(location.href);
  const id = new URLSearchParams(url.hash.slice(1)).get('session') || url.searchParams.get('session');
  if (id) {
    sessionStorage.setItem(SESSION_KEY, id);
    history.replaceState(history.state, '', url.pathname);
  }
  return sessionStorage.getItem(SESSION_KEY);
}

export const sessionId = () => sessionStorage.getItem(SESSION_KEY);

/** True when this page's address handed it its session (a /connect redirect). */
export const sessionFromLink = () => /(^|[#?&])session=/.test(location.hash + location.search);

// Open tabs answer for the session they use, so a duplicated tab (whose
// sessionStorage is a copy) learns that its session is another tab's.
const tabs = 'BroadcastChannel' in self ? new BroadcastChannel('pgdoor-tabs') : null;
tabs?.addEventListener('message', (event) => {
  if (event.data?.ask && event.data.ask === sessionId()) tabs.postMessage({ taken: event.data.ask, nonce: event.data.nonce });
});

/** True when another open tab of this browser uses session `id` (asked for 100 ms). */
export function usedElsewhere(id) {
  if (!tabs) return Promise.resolve(false);
  const nonce = Math.random().toString(36).slice(2);
  return new Promise((resolve) => {
    const heard = (event) => { if (event.data?.taken === id && event.data.nonce === nonce) done(true); };
    const done = (answer) => { tabs.removeEventListener('message', heard); clearTimeout(timer); resolve(answer); };
    const timer = setTimeout(() => done(false), 100);
    tabs.addEventListener('message', heard);
    tabs.postMessage({ ask: id, nonce });
  });
}

/** Forgets this tab's session id (it belongs to another tab). */
export const dropSession = () => sessionStorage.removeItem(SESSION_KEY);
export const rememberResource = (resource) => sessionStorage.setItem(RESOURCE_KEY, resource);

/** Listeners told when the session is gone and a reconnect starts (or cannot). */
const lostListeners = [];
export const onSessionLost = (listener) => lostListeners.push(listener);

/**
 * Re-runs /connect/<resource> in this tab, once per 20 seconds at most; the
 * caller keeps its state in sessionStorage. Returns false when it cannot.
 */
export function reconnect() {
  const resource = sessionStorage.getItem(RESOURCE_KEY);
  const last = Number(sessionStorage.getItem(RECONNECT_KEY) || 0);
  if (!resource || Date.now() - last < 20000) return false;
  sessionStorage.setItem(RECONNECT_KEY, String(Date.now()));
  sessionStorage.removeItem(SESSION_KEY);
  location.assign(`connect/${encodeURIComponent(resource)}`);
  return true;
}

/**
 * Tells pgdoor the tab is going (closed, navigated away or reloading): the
 * session ends unless this tab's next page asks for it within 3 seconds.
 */
export function leaving() {
  const id = sessionId();
  if (id) navigator.sendBeacon('api/leave', new URLSearchParams({ _session_id: id }));
}

/** Clears the reconnect guard once the new session works. */
export const reconnected = () => sessionStorage.removeItem(RECONNECT_KEY);

/** Sends a request under /api; `form` is sent urlencoded, `json` as JSON. Returns the Response. */
export async function request(path, { form, json, signal, method } = {}) {
  const headers = { 'X-Session-ID': sessionId() || '', Accept: 'application/json' };
  let body;
  if (form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form);
  } else if (json) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(`api/${path}`, { method: method || (body ? 'POST' : 'GET'), headers, body, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { error: 'pgdoor did not answer: check your network connection, then try again.' });
  }
  if (!response.ok) {
    const answer = await response.json().catch(() => ({ error: `pgdoor answered HTTP ${response.status}` }));
    const error = new ApiError(response.status, answer);
    if (error.code === 'session_gone' || error.code === 'session_required') {
      lostListeners.forEach((listener) => listener(error));
    }
    throw error;
  }
  return response;
}

/** A JSON call under /api. */
export async function call(path, options) {
  return (await request(path, options)).json();
}

/** Encodes a table name for a path: `schema.name`, quoted when either part holds a dot or quote. */
export function tablePath(schema, name) {
  const part = (s) => (/[."]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return encodeURIComponent(`${part(schema)}.${part(name)}`);
}

/** `"schema"."name"` for SQL. */
export const quoted = (schema, name) => `${ident(schema)}.${ident(name)}`;
export const ident = (s) => `"${s.replaceAll('"', '""')}"`;

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a download as a form POST into a hidden frame of its own: the
 * browser streams the file to disk and shows it in its downloads, and
 * neither the page nor its memory holds it. The page follows it by the id
 * pgdoor minted and resolves with its report (`bytes`, `rows`) once every
 * byte is out; a failure rejects with what went wrong: the report's error,
 * or the JSON error pgdoor answered instead of a file (a file never loads
 * into the frame; an error does). `progress` hears the bytes so far.
 */
async function streamDownload(path, fields, progress) {
  const { id } = await call('downloads', { method: 'POST' });
  const name = `pgdoor-download-${id}`;
  const frame = h('iframe', { name, title: 'download', class: 'offscreen', tabindex: '-1', 'aria-hidden': 'true' });
  let answered = null;
  frame.addEventListener('load', () => { answered = frame.contentDocument?.body?.textContent ?? ''; });
  document.body.append(frame);
  const all = { ...fields, _session_id: sessionId() || '', download: id };
  const form = h('form', { method: 'POST', action: `api/${path}`, target: name, class: 'offscreen' },
    Object.entries(all).map(([field, value]) => h('input', { type: 'hidden', name: field, value: String(value) })));
  document.body.append(form);
  form.submit();
  form.remove();
  const started = Date.now();
  try {
    for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
      await pause(wait);
      const report = await call(`downloads/${id}`);
      if (report.state === 'done') return report;
      if (report.state === 'failed') throw new ApiError(0, { error: report.error, code: report.code });
      if (report.state === 'waiting' && answered !== null) {
        let body;
        try { body = JSON.parse(answered); } catch { body = { error: 'pgdoor answered with a page instead of the file.' }; }
        throw new ApiError(body.status || 0, { code: 'download_failed', ...body });
      }
      if (report.state === 'waiting' && Date.now() - started > 30000) {
        throw new ApiError(0, { error: 'the download did not start: the browser did not send it.', code: 'download_failed' });
      }
      progress?.(report.bytes);
    }
  } finally {
    // The browser writes the file on its own once it has it; the frame can go.
    setTimeout(() => frame.remove(), 10000);
  }
}


/**
 * Runs `sql` as a download in `format` and saves it as `filename`. pgdoor
 * runs it read-only, so a statement that writes is refused, never run again.
 */
export const download = (sql, format, filename, progress) =>
  streamDownload('query', { query: sql, format, filename }, progress);

/** Downloads a table's rows as `params` (filter and sort) select them, without paging. */
export function downloadRows(path, params, format, filename, progress) {
  const fields = Object.fromEntries(new URLSearchParams(params));
  delete fields.limit;
  delete fields.offset;
  return streamDownload(`tables/${path}/rows`, { ...fields, format, filename }, progress);
}
