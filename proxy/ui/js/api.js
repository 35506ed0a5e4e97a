// Talking to pgdoor: the tab's session id (from `#session=`, kept in
// sessionStorage and sent as X-Session-ID), JSON errors as ApiError, and the
// automatic reconnect through /connect/<resource> when the session is gone.

import { save } from './dom.js';

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

/** Sends a request under /api; `form` is sent urlencoded. Returns the Response. */
export async function request(path, { form, signal, method } = {}) {
  const headers = { 'X-Session-ID': sessionId() || '', Accept: 'application/json' };
  let body;
  if (form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form);
  }
  let response;
  try {
    response = await fetch(`api/${path}`, { method: method || (form ? 'POST' : 'GET'), headers, body, signal });
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

/**
 * Runs `sql` as a download in `format` and saves it as `filename`. pgdoor
 * runs it read-only, so a statement that writes is refused, never run again.
 */
export async function download(sql, format, filename) {
  const response = await request(`query?format=${format}`, { form: { query: sql, format, filename } });
  save(await response.blob(), filename);
}

/** Downloads a table's rows as `params` (filter and sort) select them, without paging. */
export async function downloadRows(path, params, format, filename) {
  const query = new URLSearchParams(params);
  query.delete('limit');
  query.delete('offset');
  query.set('format', format);
  query.set('filename', filename);
  const response = await request(`tables/${path}/rows?${query}`);
  save(await response.blob(), filename);
}
