// What ran, and the queries a person saved, kept in this browser's
// localStorage per database link: every statement run from the editor,
// failed ones too, with its time, duration and rows; bounded by count and
// size, the oldest going first.

import { currentLink } from './address.js';

/** The most statements kept per link. */
export const MAX_ENTRIES = 500;
/** The most characters the kept history of a link takes (localStorage holds about 5 MB per site). */
const MAX_CHARS = 1_000_000;
/** The most saved queries per link. */
export const MAX_SAVED = 200;

const historyKey = () => `pgdoor.history.${currentLink() || 'default'}`;
const savedKey = () => `pgdoor.saved.${currentLink() || 'default'}`;

function read(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || '[]');
  } catch {
    return [];
  }
}

function write(key, list) {
  let text = JSON.stringify(list);
  while (text.length > MAX_CHARS && list.length > 1) {
    list.shift();
    text = JSON.stringify(list);
  }
  try {
    localStorage.setItem(key, text);
  } catch {
    // Over the browser's quota: nothing more is kept.
  }
}

/**
 * Records a statement that ran: `{sql, kind, at, ms, rows, error}` (`at`
 * an ISO time; `error` the message when it failed).
 */
export function record(entry) {
  const list = read(historyKey());
  list.push(entry);
  write(historyKey(), list.slice(-MAX_ENTRIES));
}

/** The statements kept, newest first. */
export const entries = () => read(historyKey()).reverse();

/** Forgets the kept statements of this link. */
export const clear = () => localStorage.removeItem(historyKey());

/** The saved queries, `{name, sql, at}`, by name. */
export const saved = () => read(savedKey()).sort((a, b) => a.name.localeCompare(b.name));

/** Saves `sql` as `name` (replacing a query of that name); false when MAX_SAVED are kept already. */
export function save(name, sql) {
  const list = read(savedKey()).filter((q) => q.name !== name);
  if (list.length >= MAX_SAVED) return false;
  list.push({ name, sql, at: new Date().toISOString() });
  write(savedKey(), list);
  return true;
}

/** Removes the saved query `name`. */
export const remove = (name) => write(savedKey(), read(savedKey()).filter((q) => q.name !== name));
