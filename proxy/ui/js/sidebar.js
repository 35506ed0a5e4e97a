// The object list: schemas with their tables, views, materialized views,
// functions and sequences, with counts, a filter box and refresh; reloaded
// by itself after the person's DDL is committed. A catalog of up to
// FULL_LOAD objects is read at once; a bigger one a schema at a time (as
// each opens), with the filter asking the server. Lists are made when they
// open and drawn a few hundred entries at a time. The catalog cache here is
// the one completion reads too.

import { h, fill, $ } from './dom.js';
import { call } from './api.js';

const KINDS = [
  ['table', 'Tables'], ['view', 'Views'], ['materialized_view', 'Materialized views'],
  ['function', 'Functions'], ['sequence', 'Sequences'],
];
/** Catalogs of up to this many objects are read whole. */
const FULL_LOAD = 3000;
/** The most entries of one list drawn at once; "Show more" draws the next ones. */
const STEP = 300;
/** The most schemas drawn at once: a first screen and more (each `<details>` costs the page ~0.6 ms to add). */
const SCHEMA_STEP = 50;
/** The most matches a filter of a big catalog asks for. */
const SEARCH_LIMIT = 200;

/** How many objects of each kind each schema holds. */
let summary = {};
/** The objects of the schemas read so far: `{schema: {kind: [{oid, name}]}}`. */
let objects = {};
/** True when the catalog is read a schema at a time. */
let bySchema = false;
const reading = new Map();
const searches = new Map();
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

/** Reads one schema's objects into the cache (once). */
function readSchema(schema) {
  if (objects[schema] || !summary[schema]) return Promise.resolve();
  if (!reading.has(schema)) {
    reading.set(schema, call(`objects?schema=${encodeURIComponent(schema)}`).then((found) => {
      objects[schema] = found[schema] || Object.fromEntries(KINDS.map(([k]) => [k, []]));
    }).finally(() => reading.delete(schema)));
  }
  return reading.get(schema);
}

/** The objects whose name holds `term`: `{objects, more}`, from the cache when the catalog is whole. */
function search(term) {
  if (!bySchema) return Promise.resolve(null);
  if (!searches.has(term)) {
    searches.set(term, call(`objects?search=${encodeURIComponent(term)}&limit=${SEARCH_LIMIT}`).catch((e) => { searches.delete(term); throw e; }));
  }
  return searches.get(term);
}

/** Two catalogs in one (for completion): the cache and search results. */
function merged(extra) {
  if (!extra) return objects;
  const all = { ...objects };
  for (const [schema, kinds] of Object.entries(extra)) {
    if (objects[schema]) continue;
    all[schema] = kinds;
  }
  return all;
}

/**
 * The catalog completion reads: the cache, with `schemas` read first (those
 * a statement names) and, in a big catalog, the objects matching `term`.
 */
export async function catalogFor({ schemas = [], term } = {}) {
  await Promise.all(schemas.filter((s) => summary[s]).map(readSchema));
  const found = term && term.length >= 2 ? await search(term.toLowerCase()).catch(() => null) : null;
  return merged(found?.objects);
}

/** Loads and draws the list; `open({schema, name, kind, oid})` is called on a click. */
export async function load(open) {
  onOpen = open || onOpen;
  if (!Object.keys(summary).length) fill($('#tree'), h('p', { class: 'muted' }, 'Loading…'));
  const counts = await call('objects?summary=true');
  const total = Object.values(counts).reduce((n, kinds) => n + Object.values(kinds).reduce((a, b) => a + b, 0), 0);
  summary = counts;
  bySchema = total > FULL_LOAD;
  searches.clear();
  objects = bySchema ? {} : await call('objects');
  if (bySchema) {
    // What opens by itself is read now: public, or every schema of a small few.
    const names = Object.keys(summary);
    const first = names.length < 4 ? names : names.filter((s) => s === 'public');
    await Promise.all(first.map(readSchema));
  }
  lowered = new WeakMap();
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

/**
 * Draws `list` into `parent` STEP entries at a time: a catalog of 20,000
 * tables puts only what is in view into the page.
 */
function capped(parent, list, entry, what, step = STEP) {
  let shown = 0;
  const more = () => {
    const next = list.slice(shown, shown + step);
    shown += next.length;
    parent.append(...next.map(entry));
    if (shown < list.length) {
      const left = list.length - shown;
      const button = h('button', { class: 'more', onclick: () => { button.closest('li')?.remove(); button.remove(); more(); } },
        `Show ${Math.min(step, left).toLocaleString('en-US')} more ${what} (${left.toLocaleString('en-US')} not shown)`);
      parent.append(parent.tagName === 'UL' ? h('li', {}, button) : button);
    }
  };
  more();
}

/** A `<details>` whose content is made the first time it opens (`content` may be async). */
function lazy(attrs, summaryEl, content) {
  const details = h('details', attrs, summaryEl);
  let made = false;
  const make = async () => {
    if (made || !details.open) return;
    made = true;
    await content(details);
    select(current);
  };
  details.addEventListener('toggle', make);
  make();
  return details;
}

/** Each name's lower case, worked out once per load for the filter. */
let lowered = new WeakMap();
const lowerOf = (o) => {
  if (!lowered.has(o)) lowered.set(o, o.name.toLowerCase());
  return lowered.get(o);
};

const countOf = (schema, kind) => summary[schema]?.[kind] ?? objects[schema]?.[kind].length ?? 0;

function kindList(schema, kind, title, items, open, shownCount) {
  return lazy(
    { class: 'kind', open },
    h('summary', {}, title, h('span', { class: 'count', 'aria-label': `${shownCount} ${title.toLowerCase()}` }, String(shownCount))),
    (details) => {
      const ul = h('ul', {});
      details.append(ul);
      capped(ul, items(), (o) => h('li', {}, h('button', {
        class: 'item', dataset: { schema, name: o.name, kind, oid: o.oid }, title: `${schema}.${o.name}`,
        onclick: () => { onOpen({ schema, name: o.name, kind, oid: o.oid }); },
      }, o.name)), title.toLowerCase());
    });
}

/** A schema's kinds, from the cache (read first when needed). */
function schemaKinds(schema, filter) {
  return KINDS.filter(([kind]) => countOf(schema, kind) > 0).map(([kind, title]) => kindList(schema, kind, title,
    () => objects[schema][kind], !filter && (kind === 'table' || kind === 'view'), countOf(schema, kind)));
}

function tree(groups, many, filter) {
  const el = $('#tree');
  fill(el);
  if (!groups.length) {
    fill(el, h('p', { class: 'muted' }, filter ? 'Nothing matches the filter.' : 'This database has no tables yet.'));
    return;
  }
  capped(el, groups, (group) => (many
    ? lazy({ class: 'schema', open: group.open }, h('summary', {}, group.schema), group.content)
    : h('div', { class: 'schema' }, h('div', { class: 'schema-name' }, group.schema), h('div', {}, group.now()))), 'schemas', SCHEMA_STEP);
  select(current);
}

let searching = 0;

function draw() {
  const filter = $('#filter').value.trim().toLowerCase();
  const schemas = Object.keys(summary);
  const many = schemas.length > 1;
  if (filter && bySchema) return drawSearch(filter);
  if (filter) {
    const groups = schemas.map((schema) => {
      const kinds = KINDS.map(([kind, title]) => [kind, title, objects[schema][kind].filter((o) => lowerOf(o).includes(filter))])
        .filter(([, , items]) => items.length);
      const now = () => kinds.map(([kind, title, items]) => kindList(schema, kind, title, () => items, true, items.length));
      return kinds.length ? { schema, open: true, now, content: (d) => d.append(...now()) } : null;
    }).filter(Boolean);
    return tree(groups, many, filter);
  }
  const groups = schemas.filter((schema) => KINDS.some(([kind]) => countOf(schema, kind) > 0)).map((schema) => ({
    schema,
    open: schema === 'public' || schemas.length < 4,
    now: () => schemaKinds(schema, filter),
    content: async (details) => {
      if (!objects[schema]) {
        const wait = h('p', { class: 'muted' }, 'Loading…');
        details.append(wait);
        await readSchema(schema);
        wait.remove();
      }
      details.append(...schemaKinds(schema, filter));
    },
  }));
  tree(groups, many, filter);
}

/** The filter of a big catalog: the server's matches, at most SEARCH_LIMIT, said so when there are more. */
async function drawSearch(filter) {
  const mine = ++searching;
  const found = await search(filter).catch(() => null);
  if (mine !== searching || !found) return;
  const groups = Object.entries(found.objects).map(([schema, kinds]) => {
    const now = () => KINDS.filter(([kind]) => kinds[kind]?.length)
      .map(([kind, title]) => kindList(schema, kind, title, () => kinds[kind], true, kinds[kind].length));
    return { schema, open: true, now, content: (d) => d.append(...now()) };
  });
  tree(groups, true, filter);
  if (found.more) {
    $('#tree').prepend(h('p', { class: 'muted', role: 'status' }, `The first ${SEARCH_LIMIT} matches: type more to narrow them.`));
  }
}

// A big catalog asks the server at each keystroke; an answer to an older one is dropped.
$('#filter').addEventListener('input', draw);
$('#refresh').addEventListener('click', () => load().catch(() => {}));
