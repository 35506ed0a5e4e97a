// Query tabs: several editors per database link, each with its own name and
// text, kept in this browser's localStorage under the link's short name, so
// they outlive a reload, a reconnect, a pgdoor restart and the session, and
// a new tab of the same link finds them. Results stay in the page's memory.

import { currentLink } from './address.js';

/** The most query tabs a link keeps. */
export const MAX_TABS = 30;
const OLD_TEXT = 'pgdoor.sql';

const key = () => `pgdoor.tabs.${currentLink() || 'default'}`;
const listeners = [];
let model = null;
let loadedFor = null;

const newId = () => Math.random().toString(36).slice(2, 10);

function load() {
  if (model && loadedFor === key()) return model;
  loadedFor = key();
  try {
    model = JSON.parse(localStorage.getItem(loadedFor) || 'null');
  } catch {
    model = null;
  }
  if (!model?.tabs?.length) {
    // The editor's text from before there were tabs, if any.
    const first = { id: newId(), name: 'Query 1', text: sessionStorage.getItem(OLD_TEXT) || '' };
    model = { tabs: [first], active: first.id };
  }
  if (!model.tabs.some((t) => t.id === model.active)) model.active = model.tabs[0].id;
  return model;
}

function store() {
  try {
    localStorage.setItem(key(), JSON.stringify(model));
  } catch {
    // Over the browser's quota: the tabs still work in this page.
  }
}

/** Calls `listener` when another tab of this browser changed the tabs. */
export const onChangeElsewhere = (listener) => listeners.push(listener);

// Another tab of this browser changed the same link's tabs.
addEventListener('storage', (event) => {
  if (event.key !== key() || !event.newValue) return;
  const active = model?.active;
  model = JSON.parse(event.newValue);
  if (model.tabs.some((t) => t.id === active)) model.active = active;
  listeners.forEach((listener) => listener());
});

/** The tabs, in order: `{id, name, text}`. */
export const tabs = () => load().tabs;

/** The tab being edited. */
export const active = () => load().tabs.find((t) => t.id === model.active);

/** Shows tab `id`. */
export function select(id) {
  if (load().tabs.some((t) => t.id === id)) model.active = id;
  store();
}

/** Keeps a tab's text. */
export function setText(id, text) {
  const tab = load().tabs.find((t) => t.id === id);
  if (!tab || tab.text === text) return;
  tab.text = text;
  store();
}

/** Opens a tab after the active one and shows it; null when there are already MAX_TABS. */
export function add(text = '', name) {
  const all = load().tabs;
  if (all.length >= MAX_TABS) return null;
  let n = all.length + 1;
  while (all.some((t) => t.name === `Query ${n}`)) n++;
  const tab = { id: newId(), name: name || `Query ${n}`, text };
  all.splice(all.findIndex((t) => t.id === model.active) + 1, 0, tab);
  model.active = tab.id;
  store();
  return tab;
}

/** Closes tab `id`; the last one left is emptied instead. */
export function close(id) {
  const all = load().tabs;
  const at = all.findIndex((t) => t.id === id);
  if (at < 0) return;
  if (all.length === 1) {
    all[0].text = '';
  } else {
    all.splice(at, 1);
    if (model.active === id) model.active = all[Math.min(at, all.length - 1)].id;
  }
  store();
}

/** Renames tab `id` (a blank name keeps the old one). */
export function rename(id, name) {
  const tab = load().tabs.find((t) => t.id === id);
  const clean = name.trim().slice(0, 60);
  if (!tab || !clean) return;
  tab.name = clean;
  store();
}

/** Moves tab `id` by `delta` places, or to just before tab `before` (drag and drop). */
export function move(id, delta, before) {
  const all = load().tabs;
  const from = all.findIndex((t) => t.id === id);
  if (from < 0) return;
  const [tab] = all.splice(from, 1);
  const to = before ? all.findIndex((t) => t.id === before) : from + delta;
  all.splice(Math.max(0, Math.min(all.length, to < 0 && before ? all.length : to)), 0, tab);
  store();
}
