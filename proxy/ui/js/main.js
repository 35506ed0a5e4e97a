// Start-up: take the session from the address, load the connection and the
// object list, and route between the views.

import { takeSession, sessionFromLink, usedElsewhere, dropSession, call, leaving, onSessionLost, reconnect, reconnected, rememberResource } from './api.js';
import { stateFrom, rememberLink, linkNamed, currentLink } from './address.js';
import { h, $, fill } from './dom.js';
import { state, save, errorBox, notice, policy } from './state.js';
import * as sidebar from './sidebar.js';
import * as table from './table.js';
import * as editor from './editor.js';
import * as panels from './panels.js';
import * as transaction from './transaction.js';

const main = $('#main');
let connection = {};

const VIEWS = {
  sql: () => editor.render(main, connection),
  history: () => panels.history(main, openInEditor),
  activity: () => panels.activity(main, connection),
  server: () => panels.server(main, connection),
  object: () => table.render(main, state.object, connection),
};

/** Shows a view and remembers it. */
function show(view) {
  state.view = VIEWS[view] ? view : 'sql';
  save();
  for (const tab of document.querySelectorAll('.tabs button')) {
    tab.setAttribute('aria-current', tab.dataset.view === state.view ? 'page' : 'false');
  }
  sidebar.select(state.view === 'object' ? state.object : null);
  editor.leave();
  VIEWS[state.view]();
}

/** Opens or closes the object list (a drawer on a phone); the button says which. */
function menu(open) {
  document.body.classList.toggle('menu-open', open);
  $('#menu').setAttribute('aria-expanded', String(open));
}

function openObject(object) {
  menu(false);
  if (!state.object || state.object.schema !== object.schema || state.object.name !== object.name) {
    Object.assign(state, { object, page: 1, sort: null, filters: [], exact: false, tab: object.kind === 'function' ? 'definition' : 'rows' });
  }
  show('object');
}

/** Puts `sql` in a query tab and shows the editor; with `run`, runs it there. */
function openInEditor(sql, run) {
  editor.openInTab(sql, run);
  show('sql');
}

for (const tab of document.querySelectorAll('.tabs button')) tab.addEventListener('click', () => show(tab.dataset.view));
$('#menu').addEventListener('click', () => menu(!document.body.classList.contains('menu-open')));
// The drawer opens below the header, whose height changes as its tabs wrap.
const headerHeight = () => document.documentElement.style.setProperty('--top-h', `${$('.top').offsetHeight}px`);
addEventListener('resize', headerHeight);
headerHeight();

onSessionLost(() => {
  editor.keep();
  if (reconnect()) {
    notice('Reconnecting…', true);
  } else {
    fill(main, errorBox({ message: 'This session has ended and reconnecting did not help. Open your /connect link again.' }));
  }
});

// A closed tab gives its session back at once; a reload keeps it, as the new
// page's first request comes within the grace. A page restored from the
// back-forward cache checks its session (and reconnects if it ended).
addEventListener('pagehide', leaving);
addEventListener('pageshow', (event) => {
  if (event.persisted) call('connection').catch(() => {});
});

/** The backend's environment as a banner whose colour says how careful to be. */
function environment(name) {
  const banner = $('#env-banner');
  banner.hidden = !name;
  if (!name) return;
  const tone = /^prod/.test(name) ? 'production' : /^(stag|pre|uat|test|qa)/.test(name) ? 'staging' : /^dev|^local/.test(name) ? 'development' : 'other';
  banner.textContent = name;
  banner.title = `This database is ${name}`;
  banner.className = `env env-${tone}`;
  document.body.classList.toggle('in-production', tone === 'production');
}

/**
 * Takes the view an address names: in this tab's session when the address
 * is of this tab's link; through the link it names when this browser has
 * opened that one (the tab reconnects to it); otherwise it says so.
 * Returns false when the tab is leaving for another link.
 */
function follow(wanted) {
  const { db, ...view } = wanted;
  if (db && db !== currentLink()) {
    const link = linkNamed(db);
    if (!link) {
      notice('That address is of a database link this browser has not opened: open the link itself first.');
      return true;
    }
    leaving();
    dropSession();
    rememberResource(link);
    Object.assign(state, view);
    save();
    if (reconnect()) return false;
    fill(main, errorBox({ message: 'Could not open that address\'s database link: open the link itself.' }));
    return false;
  }
  Object.assign(state, view);
  return true;
}

// Back, Forward, or an address pasted into this tab.
addEventListener('popstate', () => {
  const wanted = stateFrom(location.hash);
  if (wanted && follow(wanted)) show(state.view);
});

async function start() {
  const fromLink = sessionFromLink();
  const wanted = stateFrom(location.hash);
  const id = takeSession();
  // An address pasted into a new tab: open the link it names, then the view.
  if (!id && wanted?.db && linkNamed(wanted.db)) {
    follow(wanted);
    return;
  }
  if (!id) {
    fill(main, h('div', { class: 'empty' }, h('h2', {}, 'No database session'),
      h('p', {}, 'Open the /connect link you were given to start one.')));
    return;
  }
  // A duplicated tab starts with a copy of the other tab's session id: a
  // session is one tab's, so this one opens its own.
  if (!fromLink && await usedElsewhere(id)) {
    dropSession();
    if (reconnect()) {
      notice('This tab is a copy of another one: opening a session of its own…', true);
    } else {
      fill(main, errorBox({ message: 'This tab is a copy of another tab, whose session it cannot share. Open your /connect link in it.' }));
    }
    return;
  }
  try {
    const [info] = await Promise.all([call('connection'), sidebar.load(openObject)]);
    connection = info;
    reconnected();
    rememberResource(info.resource);
    rememberLink(info.resource);
    const label = info.label || info.current_database;
    $('#db-label').textContent = label;
    document.title = `${label} · pgdoor`;
    $('#readonly-badge').hidden = !info.readonly;
    Object.assign(policy, info.policy, { readonly: info.readonly });
    environment(info.policy?.environment);
    transaction.track(info.transaction);
    if (wanted && !follow(wanted)) return;
    show(state.view);
  } catch (error) {
    if (error.code !== 'session_gone' && error.code !== 'session_required') fill(main, errorBox(error, 'Could not open the database'));
  }
}

start();
