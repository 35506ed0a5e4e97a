// The address of a view: what the tab shows (view; object, tab, page, sort
// and filter) in the address bar's fragment, so Back and Forward move
// between views, a reload comes back to the same one, and the address can
// be pasted into another tab of this browser. No secret goes in it: the
// link is named by a short hash, which this browser maps back to its link.

const LINKS = 'pgdoor.links';
const DB = 'pgdoor.db';
/** The most links this browser remembers for pasted addresses. */
const MAX_LINKS = 20;

/** A short, stable name of a link (FNV-1a, 32 bits): a lookup key, not a secret. */
function nameOf(resource) {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(resource)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/** Remembers this tab's link, so an address naming it opens it in a tab that has no session. */
export function rememberLink(resource) {
  const db = nameOf(resource);
  sessionStorage.setItem(DB, db);
  const links = Object.entries(JSON.parse(localStorage.getItem(LINKS) || '{}')).filter(([name]) => name !== db);
  links.push([db, resource]);
  localStorage.setItem(LINKS, JSON.stringify(Object.fromEntries(links.slice(-MAX_LINKS))));
}

/** The link an address names, if this browser has opened it. */
export const linkNamed = (db) => JSON.parse(localStorage.getItem(LINKS) || '{}')[db] || null;

/** This tab's link's short name. */
export const currentLink = () => sessionStorage.getItem(DB);

/** The fragment for a view state. */
export function addressOf(state) {
  const p = new URLSearchParams({ view: state.view });
  const o = state.view === 'object' && state.object;
  if (o) {
    p.set('schema', o.schema);
    p.set('name', o.name);
    p.set('kind', o.kind);
    if (o.kind === 'function') p.set('oid', o.oid);
    p.set('tab', state.tab);
    if (state.tab === 'rows') {
      if (state.page > 1) p.set('page', state.page);
      if (state.perPage && state.perPage !== 100) p.set('per', state.perPage);
      if (state.sort) {
        p.set('sort', state.sort.column);
        p.set('order', state.sort.order);
      }
      if (state.filters?.length) p.set('filters', JSON.stringify(state.filters));
      if (state.exact) p.set('exact', '1');
    }
  }
  const db = currentLink();
  if (db) p.set('db', db);
  return `#${p}`;
}

/** The view state an address holds, or null when the fragment is not a view's address. */
export function stateFrom(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const view = p.get('view');
  if (!view) return null;
  const state = { view, db: p.get('db'), page: 1, perPage: 100, sort: null, filters: [], exact: false };
  if (view === 'object') {
    const [schema, name, kind] = ['schema', 'name', 'kind'].map((k) => p.get(k));
    if (!schema || !name || !kind) return null;
    state.object = { schema, name, kind, oid: p.get('oid') || undefined };
    state.tab = p.get('tab') || 'rows';
    state.page = Math.max(1, Math.floor(Number(p.get('page')) || 1));
    state.perPage = Number(p.get('per')) || 100;
    if (p.get('sort')) state.sort = { column: p.get('sort'), order: p.get('order') === 'DESC' ? 'DESC' : 'ASC' };
    try {
      const filters = JSON.parse(p.get('filters') || '[]');
      if (Array.isArray(filters)) state.filters = filters.filter((f) => f && typeof f.column === 'string' && typeof f.op === 'string');
    } catch {
      // A damaged filter is dropped; the rest of the address still holds.
    }
    state.exact = p.get('exact') === '1';
  }
  return state;
}

/**
 * Puts `state`'s address in the address bar: a new history entry when the
 * tab was showing another view, the same entry when it had none yet.
 */
export function record(state) {
  const address = addressOf(state);
  if (address === location.hash) return;
  if (stateFrom(location.hash)) history.pushState(null, '', address);
  else history.replaceState(null, '', address);
}

/** The address of an object's rows under `filters`: for links to related rows. */
export const rowsAddress = (object, filters) => addressOf({ view: 'object', object, tab: 'rows', filters });
