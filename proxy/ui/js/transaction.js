// The editor connection's transaction as pgdoor last reported it: a banner
// in the header with Commit and Rollback while one is open or has failed,
// and the browser's warning before a tab with an open transaction closes.

import { h, fill, $ } from './dom.js';
import { call } from './api.js';
import { notice } from './state.js';
import { refreshAfter } from './sidebar.js';

let status = 'idle';

/** `idle`, `in_transaction` or `failed`. */
export const current = () => status;

/** Records the status an answer reported (results and errors carry `transaction`). */
export function track(next) {
  if (!next || next === status) return;
  status = next;
  draw();
}

function draw() {
  const bar = $('#tx');
  bar.hidden = status === 'idle';
  bar.classList.toggle('failed', status === 'failed');
  if (status === 'idle') { fill(bar); return; }
  const failed = status === 'failed';
  fill(bar,
    h('span', {}, failed ? 'Transaction failed: statements are refused until you roll back' : 'Transaction open: not committed yet'),
    !failed && h('button', { onclick: () => end('COMMIT') }, 'Commit'),
    h('button', { class: failed ? 'primary' : null, onclick: () => end('ROLLBACK') }, 'Rollback'));
}

/** Ends the transaction with `COMMIT` or `ROLLBACK` and says what the server did. */
export async function end(sql) {
  try {
    const data = await call('query', { form: { query: sql } });
    track(data.transaction);
    refreshAfter(data);
    // COMMIT of a failed transaction is answered ROLLBACK: say so.
    notice(data.command === 'ROLLBACK' ? (sql === 'COMMIT' ? 'The transaction had failed: it was rolled back, nothing was committed.' : 'Rolled back.') : 'Committed.');
  } catch (error) {
    track(error.transaction || (error.code?.startsWith('transaction_') ? 'idle' : null));
    notice(`${sql} failed: ${error.message}`, true);
  }
}

addEventListener('beforeunload', (event) => {
  if (status === 'idle') return;
  event.preventDefault();
  event.returnValue = '';
});
