// The object list: schemas with their tables, views, materialized views,
// functions and sequences, with counts, a filter box and refresh; reloaded
// by itself after the person's DDL is committed.

import { h, fill, $ } from './dom.js';
import { call } from './api.js';

const KINDS = [
  ['table', 'Tables'], ['view', 'Views'], ['materialized_view', 'Materialized views'],
  ['function', 'Functions'], ['sequence', 'Sequences'],
];

let objects = {};
let onOpen = () => {};
let current = null;
const reloadListeners = [];

/** Calls `listener` whenever the list is loaded again (what was learnt of the tables may be stale). */
export const onReload = (listener) => reloadListeners.push(listener);

/** Commands after which the object list may have changed, once committed. */
const DDL = /^(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|SECURITY|REFRESH|COMMIT|ROLLBACK|END|ABORT)\b/;

/** Reloads the list when a result's statements changed the schema and nothing is left uncommitted. */
export function refreshAfter(data) {
  const changed = (data?.statements || []).some((s) => DDL.test(s.command || ''));
  if (changed && data.transaction === 'idle') load().catch(() => {});
}

/** The catalog as loaded: `{schema: {kind: [{oid, name}]}}`. */
export const catalog = () => objects;

/** Loads and draws the list; `open({schema, name, kind, oid})` is called on a click. */
export async function load(open) {
  onOpen = open || onOpen;
  if (!Object.keys(objects).length) fill($('#tree'), h('p', { class: 'muted' }, 'Loading…'));
  objects = await call('objects');
  reloadListeners.forEach((listener) => listener());
  draw();
  // User Timing: the time from the /connect navigation to the list drawn.
  if (!performance.getEntriesByName('pgdoor:objects-drawn').length) performance.mark('pgdoor:objects-drawn');
  return objects;
}

/** Marks the open object. */
export function select(object) {
  current = object;
  for (const el of document.querySelectorAll('#tree .item')) {
    const on = object && el.dataset.schema === object.schema && el.dataset.name === object.name && el.dataset.kind === object.kind;
    el.classList.toggle('current', Boolean(on));
    if (on) el.setAttribute('aria-current', 'true');
    else el.removeAttribute('aria-current');
  }
}

function draw() {
  const filter = $('#filter').value.trim().toLowerCase();
  const schemas = Object.keys(objects);
  const many = schemas.length > 1;
  const groups = schemas.map((schema) => {
    const kinds = KINDS.map(([kind, title]) => {
      const items = objects[schema][kind].filter((o) => !filter || o.name.toLowerCase().includes(filter));
      if (!items.length) return null;
      return h('details', { class: 'kind', open: kind === 'table' || kind === 'view' || Boolean(filter) },
        h('summary', {}, title, h('span', { class: 'count', 'aria-label': `${items.length} ${title.toLowerCase()}` }, String(items.length))),
        h('ul', {}, items.map((o) => h('li', {}, h('button', {
          class: 'item', dataset: { schema, name: o.name, kind, oid: o.oid }, title: `${schema}.${o.name}`,
          onclick: () => { onOpen({ schema, name: o.name, kind, oid: o.oid }); },
        }, o.name)))));
    }).filter(Boolean);
    if (!kinds.length) return null;
    return many
      ? h('details', { class: 'schema', open: schema === 'public' || schemas.length < 4 || Boolean(filter) }, h('summary', {}, schema), kinds)
      : h('div', { class: 'schema' }, h('div', { class: 'schema-name' }, schema), kinds);
  }).filter(Boolean);
  fill($('#tree'), groups.length ? groups : h('p', { class: 'muted' }, filter ? 'Nothing matches the filter.' : 'This database has no tables yet.'));
  select(current);
}

$('#filter').addEventListener('input', draw);
$('#refresh').addEventListener('click', () => load().catch(() => {}));
