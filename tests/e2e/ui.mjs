// Browser scenarios for pgdoor's UI in Debian's headless chromium, run by
// tests/it/ui_browser.rs (which starts PostgreSQL and pgdoor) and by
// tests/bench/ui (which reads the timings this prints).
//
//   node tests/e2e/ui.mjs <scenario>
//   env: PGDOOR (base URL, with any prefix), ARTIFACTS (screenshot directory),
//        HOST_PAGE (iframe scenario: the URL of a page that embeds pgdoor)
//
// Each scenario asserts what a person relies on; a failed assertion exits 1.
// Lines starting with "measure " carry timings as JSON.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BROWSER = process.env.CHROMIUM || '/usr/bin/chromium';
const BASE = process.env.PGDOOR;
const ARTIFACTS = process.env.ARTIFACTS || 'target/e2e-artifacts';
const scenario = process.argv[2];

if (!fs.existsSync(BROWSER)) {
  console.error(`chromium not found at ${BROWSER}: run tests/install-deps (apt-get install -y chromium)`);
  process.exit(2);
}
fs.mkdirSync(ARTIFACTS, { recursive: true });

const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({ executablePath: BROWSER, args: LAUNCH_ARGS });

/** A fresh browser (own cookies and storage) that fails on any dialog or page error. */
async function newContext(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, ...options });
  context.on('page', watch);
  return context;
}

const pages = [];
/** Leave-page warnings seen; any other dialog fails the scenario. */
const leaveWarnings = [];

function watch(page) {
  pages.push(page);
  page.on('dialog', (dialog) => {
    if (dialog.type() === 'beforeunload') {
      leaveWarnings.push(page);
      dialog.dismiss();
      return;
    }
    console.error(`a dialog opened: ${dialog.message()}`);
    process.exit(1);
  });
  page.on('pageerror', (error) => {
    console.error(`page error: ${error.message}`);
    process.exit(1);
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of (4|5)\d\d/.test(message.text())) console.error(`console: ${message.text()}`);
  });
}

/** Polls `probe` (which may fail while the page navigates) until it returns something truthy. */
async function eventually(probe, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => null);
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

/** Resident memory (KiB) of the browser: every process this script started, and theirs. */
function browserKiB() {
  const children = new Map();
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(Number(pid));
    } catch { /* the process ended */ }
  }
  let total = 0;
  const stack = [...(children.get(process.pid) || [])];
  while (stack.length) {
    const pid = stack.pop();
    try {
      total += Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] || 0);
    } catch { /* the process ended */ }
    stack.push(...(children.get(pid) || []));
  }
  return total;
}

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `${scenario}-${name}.png`) });
const item = (page, name) => page.locator('#tree .item', { hasText: name }).first();
const editor = (page) => page.locator('#sql');

/** Opens /connect/<resource> and waits for the object list. */
async function open(context, resource) {
  const page = await context.newPage();
  await page.goto(`${BASE}/connect/${resource}`);
  await page.locator('#tree .item').first().waitFor();
  return page;
}

/** Waits until the pager shows page `n` and `rest` (" of 3 · 250 rows"). */
async function onPage(page, n, rest) {
  await page.locator('.pager', { hasText: rest }).waitFor();
  const shown = await eventually(async () => (await page.getByLabel('Page number').inputValue()) === String(n));
  assert.ok(shown, `the pager shows page ${n}${rest}`);
}

async function runSql(page, sql) {
  await page.locator('.tabs button[data-view=sql]').click();
  await editor(page).fill(sql);
  await editor(page).press('Control+Enter');
}

const scenarios = {
  /** The seed's flow: /connect to rows, sort, page, filter, a query; the session id leaves the address bar. */
  async flow() {
    const context = await newContext();
    const page = await open(context, 'shop');
    assert.equal(new URL(page.url()).search, '', 'the session id never was in the query string');
    const id = await page.evaluate(() => sessionStorage.getItem('session_id'));
    assert.match(id, /^[0-9a-f-]{20,}$/);
    const address = new URL(page.url()).hash;
    assert.ok(!address.includes('session') && !address.includes(id), `the session id is removed from the address bar: ${address}`);
    assert.match(address, /^#view=sql&db=[0-9a-f]{8}$/, 'the address names the view and the link by a short hash');
    assert.equal(await page.locator('#db-label').textContent(), 'Shop (demo)');
    assert.equal(await page.locator('#readonly-badge').isHidden(), true);
    const shopSchema = page.locator('#tree .schema', { has: page.locator('summary', { hasText: /^shop$/ }) });
    const tables = shopSchema.locator('.kind', { hasText: 'Tables' });
    assert.match(await tables.locator('summary').textContent(), /Tables\s*2/);
    await shot(page, 'tables');

    await item(page, 'customers').click();
    const cells = page.locator('.grid-body .grid-row:first-child .cell');
    await onPage(page, 1, ' of 3 · 250 rows');
    assert.equal(await cells.nth(0).textContent(), '1');
    await shot(page, 'rows');
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.locator('.grid-body .grid-row:first-child .cell', { hasText: '250' }).first().waitFor();
    assert.equal(await page.locator('[role=columnheader][aria-sort=descending]').count(), 1);
    await page.getByRole('button', { name: 'Next page' }).click();
    await onPage(page, 2, ' of 3 · 250 rows');
    assert.equal(await cells.nth(0).textContent(), '150');
    await page.getByLabel('Per page').selectOption('50');
    await onPage(page, 1, ' of 5 · 250 rows');

    await page.getByLabel('Filter column').selectOption('name');
    await page.getByLabel('Filter operator').selectOption('ilike');
    await page.getByLabel('Filter value').fill('%r 1_');
    await page.getByRole('button', { name: 'Apply' }).click();
    await onPage(page, 1, ' of 1 · 10 rows');
    await page.getByLabel('Filter operator').selectOption('null');
    assert.equal(await page.getByLabel('Filter value').isHidden(), true);
    await page.getByLabel('Filter column').selectOption('email');
    await page.getByRole('button', { name: 'Apply' }).click();
    await onPage(page, 1, ' of 1 · 1 row');
    assert.equal(await page.locator('.grid-body .cell.null').first().textContent(), 'NULL');
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByText('· 250 rows').waitFor();

    await page.getByRole('tab', { name: 'Structure' }).click();
    await page.locator('table.structure td', { hasText: 'character varying(80)' }).waitFor();
    await shot(page, 'structure');
    await page.getByRole('tab', { name: 'Indexes' }).click();
    await page.locator('.grid-body .cell', { hasText: 'customers_pkey' }).first().waitFor();
    await page.getByRole('tab', { name: 'Info' }).click();
    await page.locator('.facts dt', { hasText: 'Total size' }).waitFor();

    await page.locator('.tabs button[data-view=sql]').click();
    await editor(page).fill("SELECT id, name, score FROM shop.customers WHERE id <= 3 ORDER BY id;\nSELECT 'second'");
    await editor(page).evaluate((el) => el.setSelectionRange(10, 10));
    await editor(page).press('Control+Enter');
    await page.locator('.status', { hasText: '3 rows in' }).waitFor();
    assert.equal(await page.locator('.grid-body .cell.num').first().textContent(), '1');
    assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.grid-body .cell.num')).textAlign), 'right');
    assert.ok(await page.locator('.highlight .t-kw', { hasText: 'SELECT' }).count() >= 2, 'keywords are highlighted');
    await shot(page, 'query');

    // Completion of a table's columns after "customers.".
    await editor(page).fill('SELECT customers.em');
    await editor(page).press('End');
    await editor(page).pressSequentially('a');
    await page.locator('#complete [role=option]', { hasText: 'email' }).waitFor();
    await editor(page).press('Enter');
    assert.equal(await editor(page).inputValue(), 'SELECT customers.email');

    // Past --max-rows the result says how many there were.
    await runSql(page, 'SELECT g FROM generate_series(1, 10005) g');
    await page.getByText('Showing the first 10,000 of 10,005 rows.', { exact: false }).waitFor();

    await page.locator('.tabs button[data-view=history]').click();
    await page.locator('.history-query', { hasText: "SELECT id, name, score" }).waitFor();
    await item(page, 'customers').click();
    await page.locator('[role=tab][aria-selected=true]', { hasText: 'Info' }).waitFor();
    await page.getByRole('tab', { name: 'Rows' }).click();
    await page.getByText('· 250 rows').waitFor();
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot(page, 'dark');
    await context.close();
  },

  /** An SQL error shows the server's message and hint and marks the position. */
  async error() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await page.locator('.tabs button[data-view=sql]').click();
    await editor(page).fill('SELECT 1;\nSELECT id,\n       nosuch FROM shop.customers');
    await editor(page).evaluate((el) => el.setSelectionRange(20, 20));
    await editor(page).press('Control+Enter');
    await page.locator('.error', { hasText: 'column "nosuch" does not exist' }).waitFor();
    assert.equal(await page.locator('.position').textContent(), 'At line 3, column 8');
    assert.equal(await page.locator('.highlight .err-pos').textContent(), 'nosuch');
    await shot(page, 'sql-error');
    await runSql(page, "SELECT * FROM shop.customer");
    await page.locator('.error', { hasText: 'relation "shop.customer" does not exist' }).waitFor();
    await runSql(page, "SELECT 1 FROM shop.customers WHERE name = 1");
    await page.locator('.error p', { hasText: 'Hint:' }).waitFor();
    await context.close();
  },

  /** Cancel stops a running pg_sleep; the session stays usable. */
  async cancel() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await runSql(page, 'SELECT pg_sleep(30)');
    await page.getByText('Running…').waitFor();
    const started = Date.now();
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await page.getByText('Query cancelled.').waitFor({ timeout: 5000 });
    assert.ok(Date.now() - started < 5000);
    await runSql(page, "SELECT 'after cancel'");
    await page.locator('.grid-body .cell', { hasText: 'after cancel' }).waitFor();
    await context.close();
  },

  /** Exports of the current result and of a table download the right content. */
  async export() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await runSql(page, "SELECT id, name, NULL::text AS gone FROM shop.customers WHERE id IN (1, 2) ORDER BY id");
    await page.locator('.status', { hasText: '2 rows' }).waitFor();
    for (const [format, expected] of [
      ['CSV', 'id,name,gone\n1,customer 1,\n2,customer 2,\n'],
      ['JSON', [{ id: 1, name: 'customer 1', gone: null }, { id: 2, name: 'customer 2', gone: null }]],
    ]) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: format, exact: true }).click()]);
      assert.match(download.suggestedFilename(), new RegExp(`\\.${format.toLowerCase()}$`));
      const body = fs.readFileSync(await download.path(), 'utf8');
      if (format === 'JSON') assert.deepEqual(JSON.parse(body), expected);
      else assert.equal(body, expected);
    }
    await item(page, 'orders').click();
    await page.getByText('· 3 rows').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'XML', exact: true }).click()]);
    assert.equal(download.suggestedFilename(), 'shop.orders.xml');
    const xml = fs.readFileSync(await download.path(), 'utf8');
    assert.equal((xml.match(/<Row>/g) || []).length, 3);

    // A table export is every row the filter selects, in the order on screen.
    await item(page, 'customers').click();
    await page.getByText('· 250 rows').waitFor();
    await page.getByLabel('Filter column').selectOption('name');
    await page.getByLabel('Filter operator').selectOption('ilike');
    await page.getByLabel('Filter value').fill('%r 1_');
    await page.getByRole('button', { name: 'Apply' }).click();
    await onPage(page, 1, ' of 1 · 10 rows');
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.locator('[role=columnheader][aria-sort=descending]').waitFor();
    const [filtered] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV', exact: true }).click()]);
    const lines = fs.readFileSync(await filtered.path(), 'utf8').trim().split('\n');
    assert.equal(lines.length, 11, 'a header and the 10 rows the filter selects');
    assert.match(lines[1], /^19,customer 19,/);
    assert.match(lines[10], /^10,customer 10,/);
    await page.getByRole('button', { name: 'Clear' }).click();

    // The result of a write is exported from the page: the write is not run again.
    await runSql(page, 'CREATE TEMP TABLE scratch(id int)');
    await page.locator('.status', { hasText: 'CREATE TABLE' }).waitFor();
    await runSql(page, 'INSERT INTO scratch VALUES (1), (2) RETURNING id');
    await page.locator('.status', { hasText: 'INSERT' }).waitFor();
    const [written] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV', exact: true }).click()]);
    assert.equal(fs.readFileSync(await written.path(), 'utf8'), 'id\n1\n2\n');
    await page.locator('#notice', { hasText: 'Exported all 2 rows from the screen: nothing ran again.' }).waitFor();
    await runSql(page, 'SELECT count(*) FROM scratch');
    await page.locator('.status', { hasText: 'SELECT 1' }).waitFor();
    assert.equal(await page.locator('.grid-body .cell').first().textContent(), '2', 'the insert ran once');

    // A read is not run again either: a sequence it advances shows it.
    await runSql(page, 'CREATE TEMP SEQUENCE ticks');
    await page.locator('.status', { hasText: 'CREATE SEQUENCE' }).waitFor();
    await runSql(page, "SELECT nextval('ticks') AS tick");
    await page.locator('.grid-body .cell', { hasText: '1' }).first().waitFor();
    const [tick] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV', exact: true }).click()]);
    assert.equal(fs.readFileSync(await tick.path(), 'utf8'), 'tick\n1\n');
    await runSql(page, "SELECT nextval('ticks') AS tick");
    await page.locator('.status', { hasText: 'SELECT 1' }).waitFor();
    assert.equal(await page.locator('.grid-body .cell').first().textContent(), '2', 'the export did not advance the sequence');

    // A capped result: the export holds the rows on screen and says so; all of
    // them come from running it again into a file, which the person asks for.
    await runSql(page, 'SELECT g FROM generate_series(1, 10050) g');
    await page.locator('.output .warning', { hasText: 'Showing the first 10,000 of 10,050 rows' }).waitFor();
    const [capped] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV', exact: true }).click()]);
    assert.equal(fs.readFileSync(await capped.path(), 'utf8').trim().split('\n').length, 10001);
    await page.locator('#notice', { hasText: 'the first 10,000 of 10,050 rows' }).waitFor();
    const [all] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Run again into a CSV file' }).click()]);
    await page.locator('#notice', { hasText: 'Exported 10,050 rows' }).waitFor();
    assert.equal(fs.readFileSync(await all.path(), 'utf8').trim().split('\n').length, 10051);
    await context.close();
  },

  /**
   * A 10M-row CSV from the table view streams to disk: the browser's memory
   * stays flat while the file (saved to DOWNLOAD_TO, which the Rust side
   * compares with psql's \copy) is hundreds of MB; the page reports the rows.
   */
  async bigexport() {
    const context = await newContext();
    const page = await open(context, 'other');
    // A download that fails before its first byte (row 200 divides by zero)
    // is no file at all; one the server cuts midway (row 500,000) is a file
    // the browser marks failed. Both are reported with the database's reason.
    const csv = () => page.getByRole('button', { name: 'CSV', exact: true });
    await item(page, 'breaks_early').click();
    await page.locator('.grid-body .grid-row').first().waitFor();
    await csv().click();
    await page.locator('#notice', { hasText: 'Export failed: division by zero' }).waitFor();
    await item(page, 'breaks_late').click();
    await page.locator('.grid-body .grid-row').first().waitFor();
    const [cut] = await Promise.all([page.waitForEvent('download'), csv().click()]);
    await page.locator('#notice', { hasText: 'Export failed: division by zero' }).waitFor();
    assert.notEqual(await cut.failure(), null, 'the browser marks the cut file as failed');
    await item(page, 'ten_million').click();
    await page.locator('.grid-body .grid-row').first().waitFor({ timeout: 60000 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const baseline = browserKiB();
    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, browserKiB()); }, 100);
    const started = Date.now();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV', exact: true }).click()]);
    await download.saveAs(process.env.DOWNLOAD_TO);
    await page.locator('#notice', { hasText: 'Exported 10,000,000 rows' }).waitFor({ timeout: 30000 });
    const ms = Date.now() - started;
    clearInterval(sampler);
    const fileMb = fs.statSync(process.env.DOWNLOAD_TO).size / 2 ** 20;
    const growthMb = (peak - baseline) / 1024;
    console.log(`measure ${JSON.stringify({ rows: 1e7, file_mb: Math.round(fileMb), ms, browser_mb: Math.round(baseline / 1024), growth_mb: Math.round(growthMb) })}`);
    assert.ok(fileMb > 200, `the file is ${fileMb} MB`);
    assert.ok(growthMb < 64, `the browser grew by ${growthMb.toFixed(0)} MB during a ${fileMb.toFixed(0)} MB download`);
    await context.close();
  },

  /**
   * The backend's policy: a production banner in the header, no export
   * anywhere when downloads are off, results capped at its row limit, and
   * the limits listed on the Connection view.
   */
  /**
   * Editing in place on a table with a composite key, an enum, jsonb, an
   * array, a boolean, a date, NULLs and quoted unicode names: each editor,
   * staging that survives a reload, the review's SQL, Apply in one
   * transaction; then a conflict with another session's write; and a
   * read-only link with nothing to edit (its API refuses too).
   */
  async editing() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await item(page, 'Odd "kinds"').click();
    const row = (text) => page.locator('.grid-body .grid-row', { hasText: text });
    const cell = (text, c) => row(text).locator('.cell').nth(c);
    const grid = page.getByRole('grid', { name: /editable/ });
    const dialog = page.locator('#edit-dialog');
    const stage = () => dialog.getByRole('button', { name: 'Stage' }).click();
    /** Moves to the next cell by keyboard and opens its editor. */
    const editNext = async () => {
      await grid.press('ArrowRight');
      await grid.press('Enter');
    };
    await row('Ann').waitFor();
    assert.deepEqual(await page.locator('[role=columnheader] .col-type').allTextContents(),
      ['text', 'integer', 'text', '"Ünï schema".mood', 'jsonb', 'text[]', 'boolean', 'date']);

    // Text by double-click; then the row's other cells by keyboard.
    await cell('Ann', 2).dblclick();
    await dialog.getByLabel('Value of näme').fill('Ann\'s "new"');
    await stage();
    await page.getByText('1 change staged').waitFor();
    assert.match(await cell('Ann', 2).getAttribute('class'), /staged-value/);
    assert.equal(await cell('Ann', 2).textContent(), 'Ann\'s "new"');
    await editNext();
    await dialog.getByLabel('Value of mood').selectOption('happy');
    await stage();
    await editNext();
    const json = dialog.getByLabel('Value of doc');
    assert.equal(await json.inputValue(), '{\n  "a": 1\n}', 'JSON is pretty-printed to edit');
    await json.fill('{"b": [1,');
    await stage();
    await dialog.getByText('Not valid JSON').waitFor();
    await json.fill('{"b":[1,2]}');
    await dialog.getByRole('button', { name: 'Format JSON' }).click();
    assert.equal(await json.inputValue(), '{\n  "b": [\n    1,\n    2\n  ]\n}');
    await stage();
    await editNext();
    await dialog.getByLabel('Value of tags').fill('{a,"b c"}');
    await stage();
    await editNext();
    await dialog.getByLabel('Value of flag').selectOption('false');
    await stage();
    await editNext();
    assert.equal(await dialog.getByLabel('Value of born').getAttribute('type'), 'date');
    await dialog.getByLabel('Value of born').fill('2021-03-04');
    await stage();
    await page.getByText('1 change staged').waitFor();
    assert.equal(await row('Ann').locator('.staged-value').count(), 6);

    // NULL both ways.
    const dee = page.locator(`.grid-body .grid-row[aria-rowindex="${await row('Dee').getAttribute('aria-rowindex')}"] .cell`);
    await dee.nth(2).dblclick();
    await dialog.getByLabel('NULL').check();
    await stage();
    assert.equal(await dee.nth(2).textContent(), 'NULL');
    await cell('solo', 2).dblclick();
    assert.equal(await dialog.getByLabel('NULL').isChecked(), true);
    await dialog.getByLabel('NULL').uncheck();
    await dialog.getByLabel('Value of näme').fill('Bob');
    await stage();
    await cell('Bob', 3).dblclick();
    await dialog.getByLabel('NULL').uncheck();
    await dialog.getByLabel('Value of mood').selectOption('ok');
    await stage();
    await page.getByText('3 changes staged').waitFor();

    // Delete by keyboard, and take it back, and again.
    await cell('Cy', 0).click();
    await grid.press('Delete');
    assert.match(await cell('Cy', 0).getAttribute('class'), /staged-delete/);
    await page.getByRole('button', { name: 'Undo delete' }).click();
    assert.doesNotMatch(await cell('Cy', 0).getAttribute('class'), /staged-delete/);
    await page.getByRole('button', { name: 'Delete row' }).click();
    await page.getByText('4 changes staged').waitFor();

    // A new row: required columns say so; a number is checked before it is staged.
    await page.getByRole('button', { name: '+ Add row' }).click();
    const fresh = page.locator('.grid-body .grid-row', { has: page.locator('.cell.staged-insert') });
    assert.deepEqual(await fresh.locator('.cell').allTextContents(), ['required', 'required', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL']);
    await grid.press('Enter');
    await dialog.getByLabel('Value of region').fill('asia');
    await stage();
    await editNext();
    await dialog.getByLabel('Value of num').fill('two');
    await stage();
    await dialog.getByText('integer needs a number').waitFor();
    await dialog.getByLabel('Value of num').fill('2');
    await stage();
    await page.getByText('5 changes staged').waitFor();
    await shot(page, 'staged');

    // A reload keeps what is staged.
    await page.reload();
    await page.getByText('5 changes staged').waitFor();
    assert.equal(await cell('Bob', 2).textContent(), 'Bob');

    // The review shows the exact statements, in order; Apply runs them in one transaction.
    await page.getByRole('button', { name: 'Review changes' }).click();
    const statements = await page.locator('.review .statements pre').allTextContents();
    assert.equal(statements.length, 5, statements.join('\n'));
    assert.ok(statements[0].startsWith('UPDATE "Ünï schema"."Odd ""kinds""" SET "näme" = \'Ann\'\'s "new"\', "mood" = \'happy\', "doc" = \'{"b":[1,2]}\''), statements[0]);
    assert.match(statements[0], / WHERE "region" = 'eu' AND "num" = '1' AND "näme" IS NOT DISTINCT FROM 'Ann' AND /);
    assert.match(statements[3], /^DELETE FROM "Ünï schema"\."Odd ""kinds""" WHERE "region" = 'us' AND "num" = '2' AND /);
    assert.match(statements[4], /^INSERT INTO "Ünï schema"\."Odd ""kinds""" \("region", "num"\) VALUES \('asia', '2'\) RETURNING \*;$/);
    await shot(page, 'review');
    await page.getByRole('button', { name: 'Apply 5 changes' }).click();
    await page.locator('.applied', { hasText: 'Applied in one transaction: 3 rows updated, 1 row deleted, 1 row inserted.' }).waitFor();
    await row('asia').waitFor();
    assert.equal(await row('Cy').count(), 0);
    assert.equal(await page.locator('.cell.staged-update, .cell.staged-insert, .cell.staged-delete').count(), 0);
    assert.equal(await page.locator('.staged-count').count(), 0);

    // Another session changes a row the person is editing: a conflict, nothing overwritten.
    await cell('Ann', 2).dblclick();
    await dialog.getByLabel('Value of näme').fill('Mine');
    await stage();
    const other = await newContext();
    const elsewhere = await open(other, 'shop');
    await runSql(elsewhere, `UPDATE "Ünï schema"."Odd ""kinds""" SET "näme" = 'Theirs' WHERE region = 'eu' AND num = 1`);
    await elsewhere.locator('.status', { hasText: 'UPDATE 1' }).waitFor();
    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByRole('button', { name: 'Apply 1 change' }).click();
    await page.locator('.error', { hasText: 'changed or deleted by someone else since you loaded it, so nothing was applied' }).waitFor();
    await row('Theirs').waitFor();
    assert.equal(await row('Mine').count(), 0);
    assert.equal(await page.locator('.staged-count').count(), 0);

    // A read-only link offers no editing at all, and its API refuses.
    const readonly = await open(context, 'other');
    await item(readonly, 'notes').click();
    await readonly.getByText('This table is empty.').waitFor();
    assert.equal(await readonly.locator('.edit-bar').count(), 0);
    assert.equal(await readonly.getByRole('button', { name: '+ Add row' }).count(), 0);
    assert.equal(await readonly.getByText('Not editable').count(), 0);
    const refused = await readonly.evaluate(async () => {
      const response = await fetch('api/tables/public.notes/changes', {
        method: 'POST',
        headers: { 'X-Session-ID': sessionStorage.getItem('session_id'), 'Content-Type': 'application/json' },
        body: JSON.stringify({ changes: [{ op: 'insert', values: { id: 1 } }] }),
      });
      return [response.status, (await response.json()).code];
    });
    assert.deepEqual(refused, [403, 'read_only']);
    await other.close();
    await context.close();
  },

  /**
   * Following relations: a foreign-key value opens the row it references,
   * "Rows referencing this row" counts and opens them, Back and Forward
   * move between the views, and a view's address survives a reload and
   * opens in another tab (one with a session, and a new one without);
   * composite keys and unicode names; Structure's markers, a view's and a
   * materialized view's definition (Refresh on a writable link only), a
   * sequence's settings; multi-line text on one line.
   */
  async relations() {
    const context = await newContext();
    const page = await open(context, 'shop');
    const rows = page.locator('.grid-body .grid-row');
    const row = (text) => rows.filter({ hasText: text });
    const hashOf = (p) => new URLSearchParams(new URL(p.url()).hash.slice(1));
    await item(page, 'orders').click();
    await onPage(page, 1, ' · 3 rows');
    assert.equal(await page.locator('.grid-body .cell-link').count(), 3, 'each customer_id links to its customer');
    // The order of 120 references customer 2.
    await row('120').locator('.cell-link').click();
    await onPage(page, 1, ' · 1 row');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().textContent(), /customer 2/);
    assert.deepEqual([await page.getByLabel('Filter column').inputValue(), await page.getByLabel('Filter value').inputValue()], ['id', '2'],
      'the referenced table, filtered to the row, the filter on screen');
    assert.equal(hashOf(page).get('name'), 'customers');

    // Who references customer 2: two orders, no trips; then open them.
    await page.getByRole('button', { name: 'Rows referencing this row' }).click();
    const panel = page.getByRole('region', { name: 'Rows referencing id = 2' });
    await panel.getByRole('link', { name: '2 rows' }).waitFor();
    await panel.locator('li', { hasText: 'Ünï schema.trips' }).getByText('no rows').waitFor();
    await panel.getByRole('link', { name: '2 rows' }).click();
    await onPage(page, 1, ' · 2 rows');
    assert.equal(await row('customer').count(), 0);
    assert.deepEqual((await rows.allTextContents()).map((t) => t.includes('120') || t.includes('0.50')), [true, true]);

    // Back, Back, Forward.
    await page.goBack();
    await onPage(page, 1, ' · 1 row');
    assert.match(await rows.first().textContent(), /customer 2/);
    await page.goBack();
    await onPage(page, 1, ' · 3 rows');
    assert.equal(await page.getByLabel('Filter value').inputValue(), '', 'the unfiltered orders again');
    await page.goForward();
    await onPage(page, 1, ' · 1 row');
    await page.goBack();
    await onPage(page, 1, ' · 3 rows');

    // By keyboard: to the first order's customer_id, Alt+Enter follows it.
    const grid = page.getByRole('grid', { name: /Rows of orders/ });
    await grid.focus();
    await grid.press('ArrowRight');
    await grid.press('Alt+Enter');
    await onPage(page, 1, ' · 1 row');
    assert.match(await rows.first().textContent(), /customer 1/);

    // A sorted, paged, filtered view survives a reload.
    await page.getByLabel('Filter operator').selectOption('greater');
    await page.getByLabel('Filter value').fill('100');
    await page.getByRole('button', { name: 'Apply' }).click();
    await onPage(page, 1, ' of 2 · 150 rows');
    await page.getByRole('button', { name: 'Sort by name' }).click();
    await page.getByRole('button', { name: 'Next page' }).click();
    await onPage(page, 2, ' of 2 · 150 rows');
    const firstOnPage2 = await rows.first().textContent();
    await page.reload();
    await onPage(page, 2, ' of 2 · 150 rows');
    assert.equal(await rows.first().textContent(), firstOnPage2, 'the same page, sort and filter after a reload');
    assert.equal(await page.locator('[role=columnheader][aria-sort=ascending]').textContent(), 'name ▲text');

    // The address in another tab of this browser: one that has a session of
    // its own, then a new one that has none (it opens the link first).
    const address = page.url();
    assert.ok(!address.includes(await page.evaluate(() => sessionStorage.getItem('session_id'))), 'no session id in the address');
    const second = await open(context, 'shop');
    await second.goto(address);
    await onPage(second, 2, ' of 2 · 150 rows');
    assert.equal(await second.locator('.grid-body .grid-row').first().textContent(), firstOnPage2);
    const fresh = await context.newPage();
    watch(fresh);
    await fresh.goto(address);
    await onPage(fresh, 2, ' of 2 · 150 rows');
    assert.equal(await fresh.locator('.grid-body .grid-row').first().textContent(), firstOnPage2);
    const ids = await Promise.all([page, second, fresh].map((p) => p.evaluate(() => sessionStorage.getItem('session_id'))));
    assert.equal(new Set(ids).size, 3, 'each tab has its own session');
    await second.close();
    await fresh.close();

    // A composite foreign key under unicode names; multi-line text on one line.
    await item(page, 'trips').click();
    await onPage(page, 1, ' · 4 rows');
    await rows.first().locator('.cell-link').first().click();
    await onPage(page, 1, ' · 1 row');
    assert.deepEqual(await page.getByLabel('Filter value').evaluateAll((els) => els.map((e) => e.value)), ['eu', '1']);
    const note = rows.first().locator('.cell').nth(3);
    assert.equal(await note.textContent(), 'first line ↵ second line ↵ third line');
    assert.equal(await note.getAttribute('title'), '3 lines: double-click to view');
    const box = await note.evaluate((el) => ({ scroll: el.scrollHeight, client: el.clientHeight }));
    assert.ok(box.scroll <= box.client, `no clipped second line: ${JSON.stringify(box)}`);
    await note.dblclick();
    const dialog = page.locator('#edit-dialog');
    assert.equal(await dialog.getByLabel('Value of note').inputValue(), 'first line\nsecond line\nthird line', 'every line, to edit');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Rows referencing this row' }).click();
    await page.getByRole('region', { name: 'Rows referencing code = eu, n = 1' }).getByRole('link', { name: '2 rows' }).click();
    await onPage(page, 1, ' · 2 rows');
    await shot(page, 'referencing');

    // Structure: keys, references, defaults, comments.
    await page.getByRole('tab', { name: 'Structure' }).click();
    const structureRow = (name) => page.locator('table.structure tbody tr', { has: page.locator('th', { hasText: new RegExp(`^${name}$`) }) });
    await structureRow('id').waitFor();
    assert.deepEqual(await structureRow('id').locator('.badge').allTextContents(), ['PK', 'IDENTITY ALWAYS']);
    assert.deepEqual(await structureRow('site_n').locator('.markers').textContent(), 'FK → Ünï schema.sites.n');
    assert.deepEqual(await structureRow('customer').locator('.markers').textContent(), 'FK → shop.customers.id');
    assert.equal(await structureRow('day').locator('td').nth(3).textContent(), "'2024-01-01'::date");
    await page.locator('h3', { hasText: 'Constraints' }).waitFor();
    await shot(page, 'structure');
    await structureRow('site_code').getByRole('link', { name: 'Ünï schema.sites.code' }).click();
    await onPage(page, 1, ' · 3 rows');
    assert.equal(hashOf(page).get('name'), 'sites');
    await page.getByRole('tab', { name: 'Structure' }).click();
    await structureRow('code').waitFor();
    assert.equal(await page.locator('.table-comment').textContent(), 'Where trips go');
    assert.deepEqual(await structureRow('code').locator('.badge').allTextContents(), ['PK 1/2']);
    assert.deepEqual(await structureRow('n').locator('.badge').allTextContents(), ['PK 2/2']);
    assert.deepEqual(await structureRow('näme').locator('.badge').allTextContents(), ['UNIQUE', 'NOT NULL']);
    assert.equal(await structureRow('note').locator('td').last().textContent(), 'free text, may span lines');
    await page.getByRole('heading', { name: 'Referenced by' }).waitFor();
    await page.getByRole('tab', { name: 'Rows' }).click();
    await onPage(page, 1, ' · 3 rows');
    await page.goBack();
    await page.locator('table.structure').waitFor();
    assert.equal(hashOf(page).get('tab'), 'structure', 'Back returns to the tab it left');

    // A view's definition; a materialized view's, refreshed on this writable link.
    await item(page, 'eu_sites').click();
    await page.getByRole('tab', { name: 'Structure' }).click();
    assert.match(await page.locator('pre.code').textContent(), /WHERE sites\.code = 'eu'::text/);
    await page.getByLabel('Filter objects').fill('trip_counts');
    await item(page, 'trip_counts').click();
    await page.getByRole('tab', { name: 'Rows' }).click();
    await page.locator('.error', { hasText: 'has not been populated' }).waitFor();
    await page.getByRole('tab', { name: 'Structure' }).click();
    await page.getByText('Holds no data yet').waitFor();
    assert.match(await page.locator('pre.code').textContent(), /count\(\*\) AS trips/);
    await page.getByRole('button', { name: 'Refresh materialized view' }).click();
    await page.getByText('Holds the rows of its last refresh.').waitFor();
    await page.getByRole('tab', { name: 'Rows' }).click();
    await onPage(page, 1, ' · 3 rows');

    // A sequence's settings.
    await page.getByLabel('Filter objects').fill('tickets');
    await item(page, 'tickets').click();
    await page.getByRole('tab', { name: 'Structure' }).click();
    const fact = (name) => page.locator('.facts dt', { hasText: new RegExp(`^${name}$`) }).locator('xpath=following-sibling::dd[1]');
    assert.equal(await fact('Increment').textContent(), '5');
    assert.equal(await fact('Start').textContent(), '100');
    assert.equal(await fact('Cycles').textContent(), 'no');
    await shot(page, 'sequence');

    // A read-only link shows a materialized view without Refresh.
    const readonly = await open(context, 'other');
    await readonly.getByLabel('Filter objects').fill('frozen');
    await item(readonly, 'frozen').click();
    await readonly.getByRole('tab', { name: 'Structure' }).click();
    await readonly.getByText('Holds the rows of its last refresh.').waitFor();
    assert.equal(await readonly.getByRole('button', { name: 'Refresh materialized view' }).count(), 0);
  },

  /**
   * `pgdoor demo`'s sample as a person meets it: follow order_items to its
   * order and back, count an order's items, a self-reference in hr, the
   * structure of a composite key, a department renamed in place (the test
   * reads it back), the materialized view refreshed; the read-only link
   * follows relations but edits nothing.
   */
  async demo() {
    const context = await newContext();
    const page = await open(context, 'shop');
    const rows = page.locator('.grid-body .grid-row');
    const find = async (p, name) => {
      await p.getByLabel('Filter objects').fill(name);
      await item(p, name).click();
    };
    await find(page, 'order_items');
    await page.locator('.pager', { hasText: 'rows' }).waitFor();
    const pager = await page.locator('.pager').textContent();
    const first = await rows.first().locator('.cell').allTextContents();
    await rows.first().locator('.cell').nth(0).locator('.cell-link').click();
    await onPage(page, 1, ' · 1 row');
    assert.equal(await rows.first().locator('.cell').first().textContent(), first[0], 'the order the item belongs to');
    await page.getByRole('button', { name: 'Rows referencing this row' }).click();
    const items = page.getByRole('region', { name: `Rows referencing id = ${first[0]}` }).getByRole('link', { name: /^\d+ rows?$/ });
    const counted = (await items.textContent()).split(' ')[0];
    await items.click();
    await onPage(page, 1, ` · ${counted} row${counted === '1' ? '' : 's'}`);
    assert.equal(await rows.count(), Number(counted), 'the count is the rows it opens');
    await page.goBack();
    await page.goBack();
    assert.ok(await eventually(async () => (await page.locator('.pager').textContent()) === pager), 'Back to every item');
    assert.deepEqual(await rows.first().locator('.cell').allTextContents(), first, 'Back to the items as they were');
    await page.getByRole('tab', { name: 'Structure' }).click();
    const structureRow = (name) => page.locator('table.structure tbody tr', { has: page.locator('th', { hasText: new RegExp(`^${name}$`) }) });
    assert.equal(await structureRow('order_id').locator('.markers').textContent(), 'PK 1/2FK → shop.orders.id');
    assert.equal(await structureRow('product_id').locator('.markers').textContent(), 'PK 2/2FK → shop.products.id');
    await page.locator('ul.constraints code', { hasText: 'CHECK (quantity > 0)' }).waitFor();

    // A table that references itself.
    await find(page, 'employees');
    await page.getByRole('tab', { name: 'Rows' }).click();
    const sam = rows.filter({ hasText: 'Engineer' }).first();
    await sam.locator('.cell').nth(2).locator('.cell-link').click();
    await onPage(page, 1, ' · 1 row');
    assert.match(await rows.first().textContent(), /Head of department/);
    await page.getByRole('button', { name: 'Rows referencing this row' }).click();
    await page.getByRole('region', { name: /^Rows referencing id = \d$/ }).locator('li', { hasText: 'hr.employees' }).getByRole('link').waitFor();

    // Renamed in place, in one transaction.
    await find(page, 'departments');
    await page.getByRole('tab', { name: 'Rows' }).click();
    await rows.filter({ hasText: 'Finance' }).locator('.cell').nth(1).dblclick();
    await page.locator('#edit-dialog').getByLabel('Value of name').fill('Finance & Legal');
    await page.locator('#edit-dialog').getByRole('button', { name: 'Stage' }).click();
    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByText('UPDATE "hr"."departments" SET "name" = \'Finance & Legal\'').waitFor();
    await page.getByRole('button', { name: 'Apply 1 change', exact: true }).click();
    await page.getByText('Applied in one transaction: 1 row updated').waitFor();

    // The materialized view, refreshed.
    await find(page, 'monthly_revenue');
    await page.getByRole('tab', { name: 'Structure' }).click();
    await page.getByText('Holds the rows of its last refresh.').waitFor();
    await page.getByRole('button', { name: 'Refresh materialized view' }).click();
    await page.locator('#notice', { hasText: 'Refreshed reporting.monthly_revenue.' }).waitFor();

    // Read-only: relations yes, edits no.
    const readonly = await open(context, 'shop-readonly');
    await find(readonly, 'orders');
    await readonly.locator('.grid-body .cell-link').first().click();
    await onPage(readonly, 1, ' · 1 row');
    assert.equal(await readonly.locator('.edit-bar').count(), 0);
    await find(readonly, 'monthly_revenue');
    await readonly.getByRole('tab', { name: 'Structure' }).click();
    await readonly.getByText('Holds the rows of its last refresh.').waitFor();
    assert.equal(await readonly.getByRole('button', { name: 'Refresh materialized view' }).count(), 0);
  },

  /**
   * Query tabs and the history that lasts: two tabs with their own text and
   * result; rename, reorder, the running tab marked while another is edited;
   * kept across a reload and in a new tab of the link; every run in the
   * history (a failed one marked), searchable and runnable into a tab; a
   * saved query.
   */
  async workspace() {
    const context = await newContext();
    const page = await open(context, 'shop');
    const tabs = page.getByRole('tablist', { name: 'Query tabs' }).getByRole('tab');
    const names = async (p = page) => (await p.getByRole('tablist', { name: 'Query tabs' }).getByRole('tab').evaluateAll(
      (els) => els.map((e) => e.firstChild.textContent)));
    const cell = page.locator('.output .grid-body .cell');
    await page.locator('.tabs button[data-view=sql]').click();
    assert.deepEqual(await names(), ['Query 1']);
    await editor(page).fill('SELECT 1 AS one');
    await editor(page).press('Control+Enter');
    await cell.filter({ hasText: /^1$/ }).waitFor();

    await page.getByRole('button', { name: 'New query tab' }).click();
    assert.deepEqual(await names(), ['Query 1', 'Query 2']);
    assert.equal(await editor(page).inputValue(), '', 'a new tab starts empty');
    await page.getByText('Results appear here.').waitFor();
    await editor(page).fill("SELECT 'two' AS t");
    await editor(page).press('Control+Enter');
    await cell.filter({ hasText: 'two' }).waitFor();
    await tabs.filter({ hasText: 'Query 1' }).click();
    assert.equal(await editor(page).inputValue(), 'SELECT 1 AS one');
    await cell.filter({ hasText: /^1$/ }).waitFor();
    assert.equal(await cell.filter({ hasText: 'two' }).count(), 0, 'each tab shows its own result');

    // Rename by double-click and by F2; move by keyboard.
    await tabs.filter({ hasText: 'Query 2' }).dblclick();
    await page.getByLabel('New name of Query 2').fill('Totals');
    await page.getByLabel('New name of Query 2').press('Enter');
    await tabs.filter({ hasText: 'Query 1' }).click();
    await tabs.filter({ hasText: 'Query 1' }).press('F2');
    await page.getByLabel('New name of Query 1').fill('First');
    await page.getByLabel('New name of Query 1').press('Enter');
    assert.deepEqual(await names(), ['First', 'Totals']);
    await tabs.filter({ hasText: 'Totals' }).click();
    await tabs.filter({ hasText: 'Totals' }).press('Alt+Shift+ArrowLeft');
    assert.deepEqual(await names(), ['Totals', 'First']);

    // One statement at a time: the running tab is marked, the others are edited.
    await editor(page).fill('SELECT pg_sleep(1.5) AS slept');
    await editor(page).press('Control+Enter');
    await page.locator('.running', { hasText: /Running… \d+\.\d s/ }).waitFor();
    await tabs.filter({ hasText: 'First' }).click();
    assert.match(await tabs.filter({ hasText: 'Totals' }).textContent(), /● running/);
    await editor(page).fill('SELECT 1 AS one -- edited while the other runs');
    await editor(page).press('Control+Enter');
    await page.locator('#notice', { hasText: 'A query is running in “Totals”' }).waitFor();
    await tabs.filter({ hasText: 'Totals' }).click();
    await cell.filter({ hasText: /^$/ }).first().waitFor();
    await page.locator('.output .status', { hasText: '1 row' }).waitFor();
    assert.doesNotMatch(await tabs.filter({ hasText: 'Totals' }).textContent(), /running/);
    await editor(page).fill('SELECT * FROM no_such_table');
    await editor(page).press('Control+Enter');
    await page.locator('.error', { hasText: 'no_such_table' }).waitFor();

    // Kept across a reload, and in a new tab of the same link.
    await page.reload();
    await page.locator('#tree .item').first().waitFor();
    assert.deepEqual(await names(), ['Totals', 'First']);
    assert.equal(await editor(page).inputValue(), 'SELECT * FROM no_such_table');
    const other = await open(context, 'shop');
    await other.locator('.tabs button[data-view=sql]').click();
    assert.deepEqual(await names(other), ['Totals', 'First']);
    await other.getByRole('tablist', { name: 'Query tabs' }).getByRole('tab', { name: /First/ }).click();
    assert.equal(await editor(other).inputValue(), 'SELECT 1 AS one -- edited while the other runs');
    await other.close();

    // Every run in the history, the failed one marked; search; run into a tab.
    await page.locator('.tabs button[data-view=history]').click();
    const entry = (text) => page.locator('ol.history li', { has: page.locator('pre', { hasText: text }) });
    await entry('no_such_table').waitFor();
    assert.match(await entry('no_such_table').textContent(), /failed: relation "no_such_table" does not exist/);
    assert.match(await entry("SELECT 'two'").textContent(), /1 row/);
    assert.equal(await entry('pg_sleep').count(), 1);
    await page.getByLabel('Search the history').fill('two');
    assert.equal(await page.locator('ol.history li').count(), 1);
    await page.locator('ol.history li').getByRole('button', { name: /^Run statement 1/ }).click();
    await cell.filter({ hasText: 'two' }).waitFor();
    assert.deepEqual(await names(), ['Totals', 'Query 3', 'First'], 'run in a tab of its own, next to the open one');
    assert.equal(await editor(page).inputValue(), "SELECT 'two' AS t");

    // A saved query, opened from the history page.
    await page.getByRole('button', { name: 'Save query' }).click();
    await page.getByLabel('Name of the saved query').fill('The two');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('.tabs button[data-view=history]').click();
    const kept = page.locator('ul.saved li', { hasText: 'The two' });
    await kept.waitFor();
    await kept.getByRole('button', { name: 'Open saved query The two in a query tab' }).click();
    assert.equal(await editor(page).inputValue(), "SELECT 'two' AS t");
    assert.deepEqual(await names(), ['Totals', 'Query 3', 'Query 4', 'First']);
    // Closed by Delete on the tab, then by the Close tab button (the open one goes).
    await tabs.filter({ hasText: 'Query 4' }).press('Delete');
    assert.deepEqual(await names(), ['Totals', 'Query 3', 'First']);
    assert.equal(await editor(page).inputValue(), 'SELECT 1 AS one -- edited while the other runs', 'its neighbour is shown');
    await page.getByRole('button', { name: 'Close tab' }).click();
    assert.deepEqual(await names(), ['Totals', 'Query 3']);

    // The browser's history can be forgotten; saved queries stay.
    await page.locator('.tabs button[data-view=history]').click();
    await page.getByRole('button', { name: 'Clear this browser’s history' }).click();
    await page.locator('ol.history li', { hasText: 'no_such_table' }).waitFor({ state: 'detached' });
    await page.locator('ul.saved li', { hasText: 'The two' }).waitFor();
    const left = await page.locator('ol.history li').allTextContents();
    assert.ok(left.every((t) => t.includes('from the session on the server')), `only the server's own history is left: ${left.join(' / ')}`);
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pgdoor.history.')).length), 0);
    await context.close();
  },

  /**
   * Plans people can read: a join's estimated plan, then its real one with
   * times, the costliest node said in words, the text plan one click away;
   * EXPLAIN ANALYZE of a DELETE asks first and runs inside a transaction
   * that is rolled back (the test then counts the rows).
   */
  async plans() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await page.locator('.tabs button[data-view=sql]').click();
    const join = 'SELECT c.name, o.total FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id WHERE c.score >= 0';
    await editor(page).fill(join);
    await page.getByRole('button', { name: 'Explain', exact: true }).click();
    await page.getByText('Estimated plan: nothing ran.').waitFor();
    const nodes = page.locator('.plan-node > summary .node-type');
    const types = await nodes.allTextContents();
    assert.ok(types.some((t) => /Join|Nested Loop/.test(t)), types.join(' / '));
    assert.ok(types.some((t) => t.includes('on shop.customers c')) && types.some((t) => t.includes('on shop.orders o')), types.join(' / '));

    await page.getByRole('button', { name: 'Explain Analyze' }).click();
    await page.locator('.plan .status', { hasText: /^Planning [\d.]+ ms · execution [\d.]+ ms$/ }).waitFor();
    const facts = await page.locator('.plan-node > summary .node-facts').allTextContents();
    assert.ok(facts.every((f) => /rows [\d,]+ \(estimated [\d,]+\)/.test(f) && / ms/.test(f)), facts.join(' / '));
    assert.ok(facts.some((f) => f.startsWith('rows 3 (estimated')), `the join returned the 3 orders: ${facts.join(' / ')}`);
    assert.ok(await page.locator('.plan-node.hot .hot-label', { hasText: /^\d+% of the time spent here$/ }).count() >= 1);
    await shot(page, 'plan');
    await page.getByText('The plan as text').click();
    const text = await page.locator('.plan-text pre').textContent();
    assert.match(text, /actual time=[\d.]+\.\.[\d.]+ rows=\d+ loops=\d+/);
    assert.match(text, /Execution Time: [\d.]+ ms$/);

    // A write under ANALYZE asks first; Cancel runs nothing.
    await editor(page).fill('DELETE FROM shop.orders WHERE total < 1');
    await page.getByRole('button', { name: 'Explain Analyze' }).click();
    const ask = page.getByRole('alert').filter({ hasText: 'EXPLAIN ANALYZE runs the statement.' });
    await ask.waitFor();
    assert.match(await ask.textContent(), /This one writes \(DELETE\)/);
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Run it in a transaction that is rolled back');
    await ask.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText('Results appear here.').waitFor();
    await page.getByRole('button', { name: 'Explain Analyze' }).click();
    await ask.getByRole('button', { name: 'Run it in a transaction that is rolled back' }).click();
    await page.getByText('Ran inside a transaction that was rolled back: nothing it changed was kept.').waitFor();
    assert.ok((await nodes.allTextContents()).some((t) => t.startsWith('ModifyTable') || t.startsWith('Delete')));
    assert.equal(await page.locator('#tx').isHidden(), true, 'no transaction left open');
    await runSql(page, 'SELECT count(*) AS n FROM shop.orders');
    await page.locator('.output .grid-body .cell', { hasText: /^3$/ }).waitFor();
    await context.close();
  },

  /** A five-statement script shows each statement's outcome; a failing one is marked, the rest said not run, the rollback told. */
  async script() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await page.locator('.tabs button[data-view=sql]').click();
    const runAll = async (sql) => {
      await editor(page).fill(sql);
      await editor(page).press('Control+a');
      await editor(page).press('Control+Enter');
    };
    const items = page.locator('.outcomes li');
    await runAll('CREATE TEMP TABLE scratch(id int);\nINSERT INTO scratch VALUES (1), (2), (3);\nUPDATE scratch SET id = id * 10 WHERE id > 1;\n'
      + 'DELETE FROM scratch WHERE id = 1;\nSELECT * FROM scratch ORDER BY id;');
    await page.getByRole('heading', { name: '5 statements ran' }).waitFor();
    const lines = (await items.allTextContents()).map((t) => t.replace(/ · [\d.]+ ms/, ''));
    assert.deepEqual(lines, [
      '✓ CREATE TEMP TABLE scratch(id int); CREATE TABLE',
      '✓ INSERT INTO scratch VALUES (1), (2), (3); INSERT 0 3 · 3 affected',
      '✓ UPDATE scratch SET id = id * 10 WHERE id > 1; UPDATE 2 · 2 affected',
      '✓ DELETE FROM scratch WHERE id = 1; DELETE 1 · 1 affected',
      '✓ SELECT * FROM scratch ORDER BY id; SELECT 2 · 2 rows (its rows are shown below)',
    ]);
    assert.deepEqual(await page.locator('.output > .grid .grid-body .cell').allTextContents(), ['20', '30']);

    await runAll("INSERT INTO scratch VALUES (7);\nSELECT 'seen' AS x;\nSELECT 1 / 0;\nDELETE FROM scratch;\nSELECT 2;");
    await page.getByRole('heading', { name: 'Statement 3 of 5 failed' }).waitFor();
    assert.match(await page.locator('.outcomes .note-box').textContent(), /rolled back: nothing of this script was kept/);
    const marks = (await items.allTextContents()).map((t) => t.slice(0, 1));
    assert.deepEqual(marks, ['✓', '✓', '✗', '–', '–']);
    assert.match(await items.nth(2).textContent(), /failed: division by zero/);
    assert.match(await items.nth(3).textContent(), /DELETE FROM scratch; not run/);
    await items.nth(1).getByText('Its rows').click();
    await items.nth(1).locator('.grid-body .cell', { hasText: 'seen' }).waitFor();
    await runSql(page, 'SELECT count(*) AS n FROM scratch');
    await page.locator('.output .grid-body .cell', { hasText: /^2$/ }).waitFor();
    await context.close();
  },

  /**
   * Completion that produces SQL that runs: names off the search path come
   * qualified, aliases and joined tables resolve, tables rank above keywords
   * after FROM, columns complete in WHERE and ORDER BY, a table made in the
   * editor is offered at once; each completed statement is run.
   */
  async completion() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await page.locator('.tabs button[data-view=sql]').click();
    const options = page.locator('#complete [role=option]');
    /** Types `text`, then `last` key by key; the options; Enter takes the first. */
    const complete = async (text, last) => {
      await editor(page).fill(text);
      await editor(page).press('End');
      await editor(page).pressSequentially(last);
      await options.first().waitFor();
      const offered = await options.evaluateAll((els) => els.map((e) => e.dataset.word));
      await editor(page).press('Enter');
      return offered;
    };
    const runs = async (expect) => {
      await editor(page).press('Control+Enter');
      await page.locator('.output .status', { hasText: expect }).waitFor();
      assert.equal(await page.locator('.output .error').count(), 0);
    };

    // shop is not on the search path (public is): the name comes qualified.
    let offered = await complete('SELECT * FROM cust', 'o');
    assert.equal(offered[0], 'shop.customers', offered.join(', '));
    assert.equal(await editor(page).inputValue(), 'SELECT * FROM shop.customers');
    await runs('250 rows');
    // After FROM, tables before keywords such as CURRENT_DATE.
    offered = await complete('SELECT 1 FROM c', 'u');
    assert.equal(offered[0], 'shop.customers', offered.join(', '));
    assert.ok(offered.indexOf('CURRENT_DATE') > 0, offered.join(', '));
    // Quoted and unicode names, quoted as they must be.
    await complete('SELECT * FROM Od', 'd');
    assert.equal(await editor(page).inputValue(), 'SELECT * FROM "Ünï schema"."Odd ""kinds"""');
    await runs(/\d+ rows?/);
    // An alias, in WHERE.
    offered = await complete('SELECT * FROM shop.customers c WHERE c.sc', 'o');
    assert.deepEqual(offered, ['score']);
    await editor(page).pressSequentially(' > 8');
    assert.equal(await editor(page).inputValue(), 'SELECT * FROM shop.customers c WHERE c.score > 8');
    await runs('25 rows');
    // A joined table's columns, bare in WHERE, and after its alias.
    await complete('SELECT o.total FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id WHERE c.na', 'm');
    await editor(page).pressSequentially(" LIKE 'customer 2' AND em");
    await options.first().waitFor();
    assert.equal(await options.first().getAttribute('data-word'), 'email');
    await editor(page).press('Enter');
    await editor(page).pressSequentially(' IS NOT NULL');
    assert.equal(await editor(page).inputValue(),
      "SELECT o.total FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id WHERE c.name LIKE 'customer 2' AND email IS NOT NULL");
    await runs('2 rows');
    // ORDER BY.
    await complete('SELECT name FROM shop.customers ORDER BY sc', 'o');
    assert.equal(await editor(page).inputValue(), 'SELECT name FROM shop.customers ORDER BY score');
    await runs('250 rows');
    // A table made here is offered at once, unqualified on the path.
    await runSql(page, 'CREATE TABLE public.fresh_one(id int, label_x text)');
    await page.locator('.output .status', { hasText: 'CREATE TABLE' }).waitFor();
    await item(page, 'fresh_one').waitFor();
    offered = await complete('SELECT * FROM fresh', '_');
    assert.equal(offered[0], 'fresh_one', offered.join(', '));
    await editor(page).fill('SELECT * FROM fresh_one f WHERE f.la');
    await editor(page).press('End');
    await editor(page).pressSequentially('b');
    await options.filter({ hasText: 'label_x' }).waitFor();
    await editor(page).press('Enter');
    await editor(page).pressSequentially(" = 'x'");
    await runs('0 rows');
    await runSql(page, 'DROP TABLE public.fresh_one');
    await page.locator('.output .status', { hasText: 'DROP TABLE' }).waitFor();
    await context.close();
  },

  /**
   * axe-core on every screen, in the light and the dark theme: no serious or
   * critical violation. The screens: the editor (empty, a result, a plan, a
   * script's outcomes), history with a saved query, activity, connection; a
   * table's rows, structure, indexes, constraints and info; a table that
   * references others and the rows referencing a row; the editing bar, a
   * staged edit and the cell editor; a view, a materialized view, a
   * sequence; the read-only link.
   */
  async a11y() {
    const axeSource = fs.readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
    const problems = [];
    const check = async (page, screen) => {
      await page.waitForTimeout(50);
      if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
      const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.failureSummary.split('\n').slice(1, 2).join('')}`).join(' | ')}`));
      for (const v of violations) problems.push(`${screen}: ${v}`);
    };
    for (const colorScheme of ['light', 'dark']) {
      const context = await newContext({ colorScheme });
      const page = await open(context, 'shop');
      const at = (screen) => check(page, `${colorScheme} ${screen}`);
      await page.locator('.tabs button[data-view=sql]').click();
      await at('editor, empty');
      await runSql(page, 'SELECT id, name, email FROM shop.customers ORDER BY id');
      await page.locator('.output .grid-body .cell').first().waitFor();
      await at('editor, a result');
      if (colorScheme === 'light') {
        // Arrowing across a wide result keeps the active cell in view and announced.
        const columns = Array.from({ length: 40 }, (_, i) => `${i + 1} AS c${i + 1}`).join(', ');
        await runSql(page, `SELECT ${columns} FROM generate_series(1, 3)`);
        const wide = page.locator('.output .grid');
        await wide.locator('.grid-body .cell', { hasText: /^40$/ }).first().waitFor({ state: 'attached' });
        await wide.focus();
        for (let i = 0; i < 39; i++) await wide.press('ArrowRight');
        await wide.press('ArrowDown');
        const seen = await wide.evaluate((g) => {
          const cell = document.getElementById(g.getAttribute('aria-activedescendant'));
          const a = cell.getBoundingClientRect();
          const left = g.getBoundingClientRect().left + g.clientLeft;
          return { text: cell.textContent, row: cell.dataset.r, active: cell.classList.contains('active'), inside: a.left >= left - 0.5 && a.right <= left + g.clientWidth + 0.5 };
        });
        assert.deepEqual(seen, { text: '40', row: '1', active: true, inside: true });
      }
      await editor(page).fill('SELECT * FROM shop.customers WHERE id = 1');
      await page.getByRole('button', { name: 'Explain Analyze' }).click();
      await page.locator('.plan-node').first().waitFor();
      await at('editor, a plan');
      await editor(page).fill('SELECT 1; SELECT 2 / 0; SELECT 3');
      await editor(page).press('Control+a');
      await editor(page).press('Control+Enter');
      await page.locator('.outcomes').waitFor();
      await at('editor, a failed script');
      await page.getByRole('button', { name: 'Save query' }).click();
      await at('editor, saving a query');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.locator('.tabs button[data-view=history]').click();
      await page.locator('ol.history li').first().waitFor();
      await at('history');
      await page.locator('.tabs button[data-view=activity]').click();
      await page.locator('main .grid').waitFor();
      await at('activity');
      await page.locator('.tabs button[data-view=server]').click();
      await page.locator('main .grid').waitFor();
      await at('connection');
      await item(page, 'orders').click();
      await page.locator('.grid-body .cell-link').first().waitFor();
      await at('table rows with links');
      await page.locator('.grid-body .cell-link').first().click();
      await page.getByRole('button', { name: 'Rows referencing this row' }).click();
      await page.locator('.referenced-by a').first().waitFor();
      await at('rows referencing a row');
      for (const tab of ['Structure', 'Indexes', 'Constraints', 'Info']) {
        await page.getByRole('tab', { name: tab }).click();
        await page.locator('.object-body').locator('table, .grid, dl, p').first().waitFor();
        await at(`table ${tab.toLowerCase()}`);
      }
      await item(page, 'Odd "kinds"').click();
      await page.locator('.edit-bar').waitFor();
      await page.locator('.grid-body .grid-row').first().locator('.cell').nth(2).dblclick();
      await page.locator('#edit-dialog').waitFor();
      await at('the cell editor');
      await page.locator('#edit-dialog').getByRole('button', { name: 'Cancel' }).click();
      await item(page, 'eu_sites').click();
      await page.getByRole('tab', { name: 'Structure' }).click();
      await page.locator('pre.code').waitFor();
      await at('a view');
      await page.getByLabel('Filter objects').fill('tickets');
      await item(page, 'tickets').click();
      await page.getByRole('tab', { name: 'Structure' }).click();
      await page.locator('.facts').waitFor();
      await at('a sequence');
      const readonly = await open(context, 'other');
      await readonly.getByLabel('Filter objects').fill('frozen');
      await item(readonly, 'frozen').click();
      await readonly.locator('.grid').waitFor();
      await check(readonly, `${colorScheme} read-only link, a materialized view`);
      await context.close();
    }
    assert.deepEqual(problems, [], `axe-core found:\n${problems.join('\n')}`);
  },

  /** Before a pgdoor restart: query tabs, a run and a saved query in a browser profile kept on disk; prints the view's address. */
  async restart1() {
    const context = await chromium.launchPersistentContext(process.env.PROFILE, { executablePath: BROWSER, args: LAUNCH_ARGS, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    watch(page);
    await page.goto(`${BASE}/connect/shop`);
    await page.locator('#tree .item').first().waitFor();
    await page.locator('.tabs button[data-view=sql]').click();
    await editor(page).fill("SELECT 'before the restart' AS said");
    await editor(page).press('Control+Enter');
    await page.locator('.output .grid-body .cell', { hasText: 'before the restart' }).waitFor();
    await page.getByRole('button', { name: 'New query tab' }).click();
    await editor(page).fill('SELECT 2 AS kept');
    await page.getByRole('button', { name: 'Save query' }).click();
    await page.getByLabel('Name of the saved query').fill('Kept one');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    console.log(`address ${page.url()}`);
    await context.close();
  },

  /** After the restart, the same profile: the address reconnects through its link; the tabs, the history and the saved query are there. */
  async restart2() {
    const context = await chromium.launchPersistentContext(process.env.PROFILE, { executablePath: BROWSER, args: LAUNCH_ARGS, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    watch(page);
    await page.goto(process.env.ADDRESS);
    await page.locator('#tree .item').first().waitFor();
    const names = await page.getByRole('tablist', { name: 'Query tabs' }).getByRole('tab').evaluateAll((els) => els.map((e) => e.firstChild.textContent));
    assert.deepEqual(names, ['Query 1', 'Query 2']);
    assert.equal(await editor(page).inputValue(), 'SELECT 2 AS kept', 'the tab that was open, its text');
    await page.locator('.tabs button[data-view=history]').click();
    await page.locator('ol.history li', { hasText: "SELECT 'before the restart' AS said" }).waitFor();
    await page.locator('ul.saved li', { hasText: 'Kept one' }).waitFor();
    await context.close();
  },

  /**
   * Every screen by keyboard alone: Tab reaches each control a screen needs
   * (within a bound), Enter and the arrow keys work them; the editor, its
   * result grid and cell viewer, a query tab's rename, the object list, a
   * table's rows and a foreign key followed, its structure, history,
   * activity and connection.
   */
  async keywalk() {
    const context = await newContext();
    const page = await open(context, 'shop');
    const kb = page.keyboard;
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      return `${el.getAttribute('role') || el.tagName.toLowerCase()}:${(el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 40)}`;
    });
    /**
     * Presses Tab (or Shift+Tab) until the focused element's "role:name"
     * matches; fails after 80 presses. The editor is left as it says: Esc, then Tab.
     */
    const tabTo = async (pattern, back) => {
      for (let i = 0; i < 80; i++) {
        const now = await focused();
        if (pattern.test(now)) return;
        if (now.startsWith('textarea:')) await kb.press('Escape');
        await kb.press(back ? 'Shift+Tab' : 'Tab');
      }
      assert.fail(`Tab never reached ${pattern} (last: ${await focused()})`);
    };
    await tabTo(/^textarea:SQL$/);
    await kb.type('SELECT id, name FROM shop.customers ORDER BY id LIMIT 3');
    await kb.press('Control+Enter');
    await page.locator('.output .grid-body .cell', { hasText: 'customer 1' }).waitFor();
    await kb.press('Escape');
    await tabTo(/^grid:Results$/);
    await kb.press('ArrowRight');
    await kb.press('ArrowDown');
    await kb.press('Enter');
    assert.equal(await page.locator('#cell-text').textContent(), 'customer 2');
    await kb.press('Escape');
    await page.locator('#cell-dialog').waitFor({ state: 'hidden' });
    await tabTo(/^tab:Query 1/, true);
    await kb.press('F2');
    await kb.type('Mine');
    await kb.press('Enter');
    await page.getByRole('tab', { name: /^Mine/ }).waitFor();

    await tabTo(/^input:Filter objects$/);
    await kb.type('orders');
    await tabTo(/^button:orders$/);
    await kb.press('Enter');
    await onPage(page, 1, ' · 3 rows');
    await tabTo(/^grid:Rows of orders/);
    await kb.press('ArrowRight');
    await kb.press('Alt+Enter');
    await onPage(page, 1, ' · 1 row');
    assert.equal(new URLSearchParams(new URL(page.url()).hash.slice(1)).get('name'), 'customers');
    await tabTo(/^tab:Structure$/, true);
    await kb.press('Enter');
    await page.locator('table.structure').waitFor();
    for (const [view, ready] of [['History', 'ol.history'], ['Activity', 'main .grid'], ['Connection', 'dl.facts']]) {
      await tabTo(new RegExp(`^button:${view}$`), true);
      await kb.press('Enter');
      await page.locator(ready).first().waitFor();
    }
    await context.close();
  },

  /**
   * A catalog too big to read whole (3,100 tables in 310 schemas): schemas
   * drawn 50 at a time and read as they open, the filter answered by the
   * server (the first 200 matches, said so), completion reading a schema a
   * statement names.
   */
  async bigcatalog() {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${BASE}/connect/big`);
    const schemas = page.locator('#tree details.schema');
    await schemas.first().waitFor();
    assert.equal(await schemas.count(), 50, 'fifty schemas at first');
    assert.equal(await page.locator('#tree .item').count(), 0, 'no schema read before it opens');
    await page.getByRole('button', { name: 'Show 50 more schemas (260 not shown)' }).click();
    await page.getByRole('button', { name: 'Show 50 more schemas (210 not shown)' }).waitFor();
    assert.equal(await schemas.count(), 100);
    const five = schemas.filter({ has: page.locator('summary', { hasText: /^customer_105$/ }) });
    await five.locator('summary').first().click();
    await five.locator('.item', { hasText: /^t10$/ }).waitFor();
    assert.equal(await five.locator('.item').count(), 10);

    await page.getByLabel('Filter objects').fill('t7');
    await page.getByText('The first 200 matches: type more to narrow them.').waitFor();
    assert.equal(await page.locator('#tree .item').count(), 50, 'in their schemas, fifty at a time');
    await page.getByRole('button', { name: 'Show 50 more schemas (150 not shown)' }).click();
    assert.equal(await page.locator('#tree .item').count(), 100);
    await page.getByLabel('Filter objects').fill('customer_250');
    await page.getByText('Nothing matches the filter.').waitFor();
    await page.getByLabel('Filter objects').fill('t3');
    await page.locator('#tree details.schema', { has: page.locator('summary', { hasText: /^customer_1$/ }) }).locator('.item', { hasText: 't3' }).click();
    await onPage(page, 1, ' · 1 row');

    await page.locator('.tabs button[data-view=sql]').click();
    await editor(page).fill('SELECT * FROM customer_299.');
    await editor(page).press('End');
    await editor(page).pressSequentially('t1');
    await page.locator('#complete [role=option]', { hasText: 't10' }).waitFor();
    await editor(page).press('Enter');
    assert.equal(await editor(page).inputValue(), 'SELECT * FROM customer_299.t10');
    await editor(page).press('Control+Enter');
    await page.locator('.output .status', { hasText: '1 row' }).waitFor();
    await context.close();
  },

  /** A big table pages by key to its last page and back; a sort no index serves warns, and Cancel stops it in the database. */
  async bigtable() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await item(page, 'ledger').click();
    await onPage(page, 1, "≈ 120,000 rows (the planner's estimate)");
    const first = page.locator('.grid-body .grid-row:first-child .cell').first();
    const firstIs = async (text) => assert.ok(await eventually(async () => (await first.textContent()) === text), `the first row is ${text}`);
    await firstIs('1');
    const press = async (button, n, id) => {
      await page.getByRole('button', { name: button }).click();
      await onPage(page, n, '≈ 120,000 rows');
      await firstIs(id);
    };
    await press('Next page', 2, '101');
    await press('Last page', 1200, '119901');
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);
    await press('Previous page', 1199, '119801');
    await press('First page', 1, '1');
    assert.equal(await page.getByRole('button', { name: 'Previous page' }).isDisabled(), true);

    // Another tab holds the table locked, so the sort waits in the database
    // until called off; a third watches it (outside a transaction, which
    // would see pg_stat_activity as it was at its start).
    const other = await newContext();
    const locker = await open(other, 'shop');
    const watcher = await open(await newContext(), 'shop');
    await runSql(locker, 'BEGIN');
    await locker.locator('#tx', { hasText: 'Transaction open' }).waitFor();
    await runSql(locker, 'LOCK TABLE public.ledger IN ACCESS EXCLUSIVE MODE');
    await locker.locator('.status', { hasText: 'LOCK TABLE' }).waitFor();
    const sorting = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT * FROM \"public\".\"ledger\"%ORDER BY \"amount\"%' AND state = 'active'";
    const running = async () => {
      await runSql(watcher, sorting);
      await watcher.locator('.output .status', { hasText: '1 row' }).waitFor();
      return watcher.locator('.output .grid-body .cell').first().textContent();
    };
    await page.getByRole('button', { name: 'Sort by amount' }).click();
    const warning = page.getByRole('alert').filter({ hasText: 'which no index leads with' });
    await warning.waitFor();
    assert.match(await warning.textContent(), /Sorting ≈ 120,000 rows by amount/);
    assert.ok(await eventually(async () => (await running()) === '1'), 'the sort waits in the database');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Cancel the sort', 'Cancel has the focus');
    await page.keyboard.press('Enter');
    await warning.waitFor({ state: 'detached' });
    await onPage(page, 1, '≈ 120,000 rows');
    assert.equal(await page.locator('[role=columnheader][aria-sort]').count(), 0, 'the rows are as they were');
    assert.ok(await eventually(async () => (await running()) === '0'), 'the cancelled sort stopped in the database');
    await runSql(locker, 'ROLLBACK');
    await locker.locator('#tx', { hasText: 'Transaction open' }).waitFor({ state: 'detached' });
    await other.close();
    await watcher.context().close();

    // Not called off, it finishes and the warning gives way to the rows.
    await page.getByRole('button', { name: 'Sort by amount' }).click();
    await page.locator('[role=columnheader][aria-sort=ascending]').waitFor();
    assert.equal(await page.getByRole('alert').filter({ hasText: 'which no index leads with' }).count(), 0);
    assert.equal(await page.locator('.grid-body .grid-row:first-child .cell').nth(1).textContent(), '0');
    // A sort on the key is served by its index: no warning, and paging by key goes on.
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.locator('[role=columnheader][aria-sort=ascending]', { hasText: 'id' }).waitFor();
    await firstIs('1');
    await context.close();
  },

  /** Page jumps, the real last page of a table whose estimate is low, several filter conditions, an export as shown. */
  async paging() {
    const context = await newContext();
    const page = await open(context, 'shop');
    await item(page, 'customers').click();
    await onPage(page, 1, ' of 3 · 250 rows');
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.locator('[role=columnheader][aria-sort=ascending]').waitFor();
    const first = page.locator('.grid-body .grid-row:first-child .cell').first();
    await page.getByLabel('Page number').fill('3');
    await page.getByLabel('Page number').press('Enter');
    await onPage(page, 3, ' of 3 · 250 rows');
    assert.equal(await first.textContent(), '201');
    assert.equal(await page.getByRole('button', { name: 'Last page' }).isDisabled(), true);
    await page.getByRole('button', { name: 'First page' }).click();
    await onPage(page, 1, ' of 3 · 250 rows');
    await page.getByRole('button', { name: 'Last page' }).click();
    await onPage(page, 3, ' of 3 · 250 rows');

    // A column keeps the width it is given, per table, across a reload; by mouse or by keyboard.
    const nameHeader = page.locator('[role=columnheader]', { has: page.getByRole('button', { name: 'Sort by name' }) });
    const edge = page.getByRole('separator', { name: 'Resize name' });
    const before = (await nameHeader.boundingBox()).width;
    const box = await edge.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + 120, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const wider = (await nameHeader.boundingBox()).width;
    assert.ok(wider > before + 100, `dragged wider: ${before} → ${wider}`);
    await page.reload();
    await edge.waitFor();
    assert.ok(Math.abs((await nameHeader.boundingBox()).width - wider) < 2, 'kept across the reload');
    await edge.press('ArrowLeft');
    assert.ok((await nameHeader.boundingBox()).width < wider - 8, 'narrower by keyboard');

    // Two conditions, joined by AND; a third removed again.
    await page.getByLabel('Filter column').selectOption('score');
    await page.getByLabel('Filter operator').selectOption('equal');
    await page.getByLabel('Filter value').fill('3');
    await page.getByRole('button', { name: 'Add a condition' }).click();
    await page.getByLabel('Filter column').nth(1).selectOption('id');
    await page.getByLabel('Filter operator').nth(1).selectOption('less');
    await page.getByLabel('Filter value').nth(1).fill('100');
    await page.getByRole('button', { name: 'Add a condition' }).click();
    await page.getByLabel('Filter column').nth(2).selectOption('email');
    await page.getByRole('button', { name: 'Remove this condition' }).nth(2).click();
    await page.getByRole('button', { name: 'Apply' }).click();
    await onPage(page, 1, ' of 1 · 10 rows');
    assert.equal(await page.getByLabel('Filter column').count(), 2, 'the conditions stay on screen');
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.locator('[role=columnheader][aria-sort=descending]').waitFor();
    assert.equal(await first.textContent(), '93');
    await page.getByText('Export the rows the filter selects, sorted as shown').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV', exact: true }).click()]);
    await download.saveAs(process.env.DOWNLOAD_TO);
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.locator('.pager', { hasText: '250 rows' }).waitFor();

    // The planner says 100,000; there are 105,000: an exact count on request, and Last counts first.
    await item(page, 'grown').click();
    await page.locator('.pager', { hasText: "≈ 100,000 rows (the planner's estimate)" }).waitFor();
    await page.getByRole('button', { name: 'Count exactly' }).click();
    await onPage(page, 1, ' of 1,050 · 105,000 rows');
    await item(page, 'customers').click();
    await item(page, 'grown').click();
    await page.locator('.pager', { hasText: '≈ 100,000 rows' }).waitFor();
    await page.getByRole('button', { name: 'Sort by id' }).click();
    await page.locator('[role=columnheader][aria-sort=ascending]').waitFor();
    await page.getByRole('button', { name: 'Last page' }).click();
    await onPage(page, 1050, ' of 1,050 · 105,000 rows');
    assert.equal(await first.textContent(), '104901');
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);

    // DDL the person runs shows in the object list by itself, once committed.
    await runSql(page, 'CREATE TABLE "Ünï schema".made_here(id int PRIMARY KEY)');
    await item(page, 'made_here').waitFor();
    await runSql(page, 'BEGIN');
    await page.locator('#tx', { hasText: 'Transaction open' }).waitFor();
    await runSql(page, 'DROP TABLE "Ünï schema".made_here');
    await page.locator('.status', { hasText: 'DROP TABLE' }).waitFor();
    assert.equal(await item(page, 'made_here').count(), 1, 'not committed yet: still there for everyone else');
    await page.locator('#tx').getByRole('button', { name: 'Commit' }).click();
    await item(page, 'made_here').waitFor({ state: 'detached' });
    await context.close();
  },

  async policy() {
    const context = await newContext();
    const page = await open(context, 'guarded');
    const banner = page.locator('#env-banner');
    await banner.waitFor();
    assert.equal((await banner.textContent()).trim(), 'production');
    assert.match(await banner.getAttribute('class'), /env-production/);
    await runSql(page, 'SELECT g FROM generate_series(1, 200) g');
    await page.locator('.output .warning', { hasText: '50' }).waitFor();
    assert.equal(await page.locator('.output .grid-body .grid-row').count() <= 50, true);
    assert.equal(await page.getByRole('button', { name: 'CSV', exact: true }).count(), 0, 'no export in the editor');
    await item(page, 'customers').click();
    await page.locator('.grid-body .grid-row').first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'CSV', exact: true }).count(), 0, 'no export in the table view');
    await page.locator('.tabs button[data-view=server]').click();
    await page.getByText('not allowed for this link').waitFor();
    await page.getByText('capped at 50 rows').waitFor();
    await page.getByText('30 s', { exact: true }).waitFor();
    await shot(page, 'banner');
    // The shop link without a policy shows no banner and offers exports.
    const plain = await open(context, 'shop');
    assert.equal(await plain.locator('#env-banner').isVisible(), false);
    await plain.locator('.tabs button[data-view=sql]').click();
    await plain.getByRole('button', { name: 'CSV', exact: true }).waitFor();
    await context.close();
  },

  /**
   * The editor by keyboard, in both themes: a trailing comment is no
   * statement; Tab indents, Esc then Tab leaves; the focus ring and a hovered
   * primary button meet WCAG AA (3:1 for the ring, 4.5:1 for text).
   */
  async keyboard() {
    for (const colorScheme of ['light', 'dark']) {
      const context = await newContext({ colorScheme });
      const page = await open(context, 'shop');
      await page.locator('.tabs button[data-view=sql]').click();
      const sql = editor(page);
      await sql.fill('SELECT 41 + 1 AS answer;\n-- a note about it\n');
      await sql.press('Control+End');
      await sql.press('Control+Enter');
      await page.locator('.grid-body .cell', { hasText: '42' }).first().waitFor();
      await sql.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'sql', 'Tab alone indents');
      await sql.press('Escape');
      await page.keyboard.press('Tab');
      assert.notEqual(await page.evaluate(() => document.activeElement.id), 'sql', 'Esc then Tab leaves the editor');
      await page.locator('#run').focus();
      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Tab');
      await page.locator('#run').hover();
      const ratios = await page.evaluate(() => {
        const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => [r, g, b].map((v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; })
          .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
        // A translucent colour is seen blended over what is behind it.
        const over = (fg, bg) => { const [r, g, b, a = 1] = rgb(fg); const back = rgb(bg); return [r, g, b].map((v, i) => v * a + back[i] * (1 - a)); };
        const ratio = (a, b) => { const [x, y] = [lum(over(a, b)), lum(rgb(b))].sort((m, n) => n - m); return (x + 0.05) / (y + 0.05); };
        const backdrop = (el) => {
          for (let e = el; e; e = e.parentElement) {
            const bg = getComputedStyle(e).backgroundColor;
            if (rgb(bg).length < 4 || rgb(bg)[3] > 0) return bg;
          }
          return 'rgb(255, 255, 255)';
        };
        const run = document.querySelector('#run');
        const style = getComputedStyle(run);
        return {
          focus: ratio(style.outlineColor, backdrop(run.parentElement)),
          hovered: ratio(style.color, style.backgroundColor),
          outline: style.outlineStyle,
        };
      });
      assert.equal(ratios.outline, 'solid', 'the focused Run button shows its ring');
      assert.ok(ratios.focus >= 3, `${colorScheme}: the focus ring's contrast is ${ratios.focus.toFixed(2)}:1`);
      assert.ok(ratios.hovered >= 4.5, `${colorScheme}: a hovered primary button's text contrast is ${ratios.hovered.toFixed(2)}:1`);
      await context.close();
    }
  },

  /** An open transaction: the header says so, Commit and Rollback end it, a failed one suggests ROLLBACK, closing the tab warns. */
  async transaction() {
    const context = await newContext();
    const page = await open(context, 'shop');
    const bar = page.locator('#tx');
    assert.equal(await bar.isHidden(), true);
    await runSql(page, 'CREATE TEMP TABLE kept(id int)');
    await page.locator('.status', { hasText: 'CREATE TABLE' }).waitFor();
    await runSql(page, 'BEGIN');
    await bar.getByText('Transaction open').waitFor();
    await runSql(page, 'INSERT INTO kept VALUES (1)');
    await page.locator('.status', { hasText: 'in a transaction' }).waitFor();
    await shot(page, 'open');

    // Closing the tab with the transaction open asks first.
    await page.close({ runBeforeUnload: true });
    assert.ok(await eventually(async () => leaveWarnings.includes(page)), 'closing a tab with an open transaction warns');
    assert.equal(page.isClosed(), false, 'the warning was dismissed, the tab stays');

    await bar.getByRole('button', { name: 'Rollback' }).click();
    await bar.waitFor({ state: 'hidden' });
    await page.locator('#notice', { hasText: 'Rolled back.' }).waitFor();

    await runSql(page, 'BEGIN');
    await bar.getByText('Transaction open').waitFor();
    await runSql(page, 'SELECT 1/0');
    await page.locator('.error', { hasText: 'division by zero' }).waitFor();
    await bar.getByText('Transaction failed').waitFor();
    assert.equal(await bar.getByRole('button', { name: 'Commit' }).count(), 0, 'a failed transaction cannot commit');
    await page.locator('.output .warning', { hasText: 'Your transaction has failed' }).getByRole('button', { name: 'Roll back' }).click();
    await bar.waitFor({ state: 'hidden' });
    await page.locator('#notice', { hasText: 'Rolled back.' }).waitFor();

    // A script, selected whole, leaves its transaction open too.
    await page.locator('.tabs button[data-view=sql]').click();
    await editor(page).fill('BEGIN; INSERT INTO kept VALUES (2)');
    await editor(page).press('Control+A');
    await editor(page).press('Control+Enter');
    await bar.getByText('Transaction open').waitFor();
    await bar.getByRole('button', { name: 'Commit' }).focus();
    await page.keyboard.press('Enter');
    await bar.waitFor({ state: 'hidden' });
    await page.locator('#notice', { hasText: 'Committed.' }).waitFor();
    await runSql(page, 'SELECT string_agg(id::text, \',\') FROM kept');
    await page.locator('.status', { hasText: 'SELECT 1' }).waitFor();
    assert.equal(await page.locator('.grid-body .cell').first().textContent(), '2', 'the rolled back row is gone, the committed one stays');

    // Nothing open: the tab closes without asking.
    const warned = leaveWarnings.length;
    await page.close({ runBeforeUnload: true });
    assert.ok(await eventually(async () => page.isClosed()));
    assert.equal(leaveWarnings.length, warned);
    await context.close();
  },

  /** Two tabs on two resources: each keeps its own session and database. */
  async tabs() {
    const context = await newContext();
    const shop = await open(context, 'shop');
    const other = await open(context, 'other');
    assert.notEqual(
      await shop.evaluate(() => sessionStorage.getItem('session_id')),
      await other.evaluate(() => sessionStorage.getItem('session_id')));
    assert.equal(await other.locator('#db-label').textContent(), 'Other (read-only)');
    assert.equal(await other.locator('#readonly-badge').isVisible(), true);
    assert.equal(await item(other, 'customers').count(), 0, 'the other database has no customers table');
    await runSql(shop, 'SELECT current_database() AS db');
    await runSql(other, 'SELECT current_database() AS db');
    const db = (page) => page.locator('.grid-body .cell').first().textContent();
    await shop.locator('.status').waitFor();
    await other.locator('.status').waitFor();
    assert.notEqual(await db(shop), await db(other));
    assert.equal(await db(shop), process.env.SHOP_DB);
    await runSql(other, 'CREATE TABLE nope(id int)');
    await other.locator('.error', { hasText: 'read-only' }).waitFor();
    await shot(other, 'readonly');
    await shop.reload();
    await shop.locator('#tree .item').first().waitFor();
    assert.equal(await shop.locator('#db-label').textContent(), 'Shop (demo)', 'a reload keeps the tab on its session');
    await context.close();
  },

  /** The session disappears server-side: the UI reconnects by itself and keeps the editor text and view. */
  async reconnect() {
    const context = await newContext();
    const page = await open(context, 'shop');
    const first = await page.evaluate(() => sessionStorage.getItem('session_id'));
    await page.locator('.tabs button[data-view=sql]').click();
    await editor(page).fill('SELECT 42 AS kept -- my unsaved work');
    const ended = await page.evaluate(async () => (await fetch('api/disconnect', {
      method: 'POST', headers: { 'X-Session-ID': sessionStorage.getItem('session_id') },
    })).json());
    assert.equal(ended.success, true);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    // The tab navigates through /connect and back: wait until a new session's page has its list.
    const second = await eventually(() => page.evaluate((old) => {
      const id = sessionStorage.getItem('session_id');
      return id && id !== old && document.querySelector('#tree .item') && !location.search ? id : null;
    }, first));
    assert.ok(second, 'a new session was opened');
    assert.equal(await editor(page).inputValue(), 'SELECT 42 AS kept -- my unsaved work');
    assert.equal(await page.locator('.tabs button[aria-current=page]').textContent(), 'SQL');
    // The Run that met the ended session says it did not run, and offers to.
    const told = page.getByRole('alert').filter({ hasText: 'Not run.' });
    await told.waitFor();
    assert.match(await told.textContent(), /This statement did not run/);
    assert.equal(await told.locator('pre').textContent(), 'SELECT 42 AS kept -- my unsaved work');
    assert.equal(await page.locator('.grid-body .cell').count(), 0, 'nothing ran by itself');
    await told.getByRole('button', { name: 'Run it now' }).click();
    await page.locator('.grid-body .cell', { hasText: '42' }).waitFor();
    await context.close();
  },

  /**
   * A closed tab gives its backends back within 5 s; a reload keeps its
   * session; 20 tabs opened and closed leave none. An observer tab counts
   * the database's backends (its own catalog connection is the baseline).
   */
  async leave() {
    const observer = await open(await newContext(), 'shop');
    const backends = () => observer.evaluate(async () => {
      const body = new URLSearchParams({ query: 'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()' });
      const answer = await (await fetch('api/query', { method: 'POST', headers: { 'X-Session-ID': sessionStorage.getItem('session_id') }, body })).json();
      return Number(answer.rows[0][0]);
    });
    const baseline = await backends();
    const backTo = async (expected, what, timeout = 5000) => {
      const started = Date.now();
      const reached = await eventually(async () => (await backends()) === expected, timeout);
      assert.ok(reached, `${what}: ${await backends()} backends, expected ${expected}`);
      return Date.now() - started;
    };

    const context = await newContext();
    const tab = await open(context, 'shop');
    assert.ok((await backends()) > baseline, 'the tab has its own backends');
    await tab.close();
    const closedMs = await backTo(baseline, 'a closed tab');

    const kept = await open(context, 'shop');
    const id = await kept.evaluate(() => sessionStorage.getItem('session_id'));
    const withTab = await backends();
    await kept.reload();
    await kept.locator('#tree .item').first().waitFor();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    assert.equal(await kept.evaluate(() => sessionStorage.getItem('session_id')), id, 'a reload keeps the session');
    await runSql(kept, "SELECT 'after reload' AS still");
    await kept.locator('.grid-body .cell', { hasText: 'after reload' }).waitFor();
    assert.equal(await backends(), withTab, 'a reload opens nothing new and closes nothing');
    await kept.close();
    await backTo(baseline, 'the reloaded tab, closed');

    const many = [];
    for (let i = 0; i < 20; i++) many.push(await open(context, 'shop'));
    assert.ok((await backends()) >= baseline + 20, 'twenty tabs, twenty sessions');
    await Promise.all(many.map((page) => page.close()));
    const manyMs = await backTo(baseline, '20 closed tabs', 8000);
    console.log(`measure ${JSON.stringify({ closed_tab_backends_gone_ms: closedMs, twenty_tabs_gone_ms: manyMs })}`);
    await context.close();
  },

  /**
   * A duplicated tab (its sessionStorage a copy of the first's) opens a
   * session of its own; closing it leaves the first tab's session, temporary
   * table and all, untouched.
   */
  async duplicate() {
    const context = await newContext();
    const first = await open(context, 'shop');
    const id = await first.evaluate(() => sessionStorage.getItem('session_id'));
    await runSql(first, 'CREATE TEMP TABLE mine(x int)');
    await first.locator('.status', { hasText: 'CREATE TABLE' }).waitFor();
    const entries = await first.evaluate(() => JSON.stringify(Object.entries(sessionStorage)));
    const copy = await context.newPage();
    await copy.addInitScript((saved) => {
      if (sessionStorage.getItem('test.copied')) return;
      for (const [k, v] of JSON.parse(saved)) sessionStorage.setItem(k, v);
      sessionStorage.setItem('test.copied', '1');
    }, entries);
    await copy.goto(`${BASE}/`);
    await copy.locator('#tree .item').first().waitFor();
    const own = await copy.evaluate(() => sessionStorage.getItem('session_id'));
    assert.ok(own && own !== id, 'the copy opened a session of its own');
    await copy.close();
    await new Promise((resolve) => setTimeout(resolve, 4500));
    await runSql(first, 'SELECT count(*) AS n FROM mine');
    await first.locator('.status', { hasText: 'SELECT 1' }).waitFor();
    assert.equal(await first.locator('.grid-body .cell').first().textContent(), '0', 'the first tab kept its session and temporary table');
    assert.equal(await first.evaluate(() => sessionStorage.getItem('session_id')), id);
    await context.close();
  },

  /** Names and values holding markup are shown as text; no script runs. */
  async xss() {
    const context = await newContext();
    const page = await open(context, 'shop');
    const evil = '<img src=x onerror=alert(1)>';
    await item(page, evil).click();
    await page.locator('[role=columnheader]', { hasText: evil }).waitFor();
    await page.locator('.grid-body .cell', { hasText: evil }).waitFor();
    assert.equal(await page.locator('main img, #tree img').count(), 0, 'no element was made from the text');
    await page.locator('.grid-body .cell', { hasText: evil }).dblclick();
    assert.equal(await page.locator('#cell-text').textContent(), evil);
    await page.getByRole('button', { name: 'Close' }).click();
    await runSql(page, `SELECT '${evil}' AS "${evil}"`);
    await page.locator('.grid-body .cell', { hasText: evil }).waitFor();
    await shot(page, 'markup-as-text');
    await page.waitForTimeout(300);
    await context.close();
  },

  /** Under --prefix, inside an iframe on another origin that --frame-ancestors allows. */
  async iframe() {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(process.env.HOST_PAGE);
    const frame = page.frameLocator('iframe');
    await frame.getByRole('button', { name: 'customers', exact: true }).click();
    await frame.getByText('· 250 rows').waitFor();
    const inner = page.frames().find((f) => f !== page.mainFrame());
    assert.equal(new URL(inner.url()).pathname, '/db/', 'the UI lives under the prefix, the session id gone from its address');
    await shot(page, 'in-iframe');
    await context.close();
  },

  /** The phone layout: the object list opens from the menu button. */
  async phone() {
    const context = await newContext({ viewport: { width: 390, height: 800 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    await page.goto(`${BASE}/connect/shop`);
    await page.locator('#menu').waitFor();
    // Every view's tab is on screen, none cut off.
    const cut = await page.evaluate(() => [...document.querySelectorAll('.tabs button')]
      .filter((b) => { const r = b.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth || r.width === 0; })
      .map((b) => b.textContent));
    assert.deepEqual(cut, [], 'header tabs cut off on a phone');
    await page.locator('#menu').click();
    assert.equal(await page.locator('#menu').getAttribute('aria-expanded'), 'true');
    await item(page, 'customers').click();
    await page.getByText('· 250 rows').waitFor();
    // The list slides away after a choice (a short transition), and the button says so.
    await page.waitForFunction(() => document.querySelector('#sidebar').getBoundingClientRect().right <= 0, null, { timeout: 5000 });
    assert.equal(await page.locator('#menu').getAttribute('aria-expanded'), 'false', 'the closed drawer says it is closed');
    await shot(page, 'phone');
    // The drawer opens below the header, not over its button.
    await page.locator('#menu').click();
    const [top, header] = await page.evaluate(() => [document.querySelector('#sidebar').getBoundingClientRect().top, document.querySelector('.top').getBoundingClientRect().bottom]);
    assert.ok(Math.abs(top - header) <= 2, `the drawer starts at ${top}, the header ends at ${header}`);
    await context.close();
  },

  /**
   * Timings for BENCHMARKS.md: a database of CATALOG_BIG tables against one
   * of ten (resources `big` and `small`): the object list drawn after the
   * page's first byte, the longest task until then, one filter keystroke,
   * and the page's JS heap once drawn. Medians of RUNS fresh contexts.
   */
  async catalog() {
    const runs = Number(process.env.RUNS || 3);
    const result = {};
    for (const resource of ['small', 'big']) {
      const samples = [];
      for (let i = 0; i < runs; i++) {
        const context = await newContext();
        await context.addInitScript(() => {
          window.__longest = 0;
          new PerformanceObserver((list) => {
            for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
          }).observe({ type: 'longtask', buffered: true });
        });
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        await page.goto(`${BASE}/connect/${resource}`);
        await page.waitForFunction(() => performance.getEntriesByName('pgdoor:objects-drawn').length > 0, null, { timeout: 60000 });
        await page.waitForTimeout(300);
        const drawn = await page.evaluate(() => {
          const nav = performance.getEntriesByType('navigation')[0];
          return { first_draw_ms: performance.getEntriesByName('pgdoor:objects-drawn')[0].startTime - nav.responseStart, longest_task_ms: window.__longest };
        });
        // One keystroke in the filter, until the list shows its matches (a server search in a
        // big catalog), in the page's own clock.
        const filter_ms = await page.evaluate(() => new Promise((resolve) => {
          const box = document.querySelector('#filter');
          const tree = document.querySelector('#tree');
          const started = performance.now();
          const seen = new MutationObserver(() => {
            if (!tree.querySelector('.item')) return;
            seen.disconnect();
            void tree.offsetHeight;
            resolve(performance.now() - started);
          });
          seen.observe(tree, { childList: true, subtree: true });
          box.value = 't5';
          box.dispatchEvent(new Event('input'));
        }));
        await cdp.send('HeapProfiler.collectGarbage');
        const { usedSize } = await cdp.send('Runtime.getHeapUsage');
        const items = await page.locator('#tree .item, #tree summary').count();
        samples.push({ ...drawn, filter_ms, heap_mb: usedSize / 1e6, items });
        await context.close();
      }
      const median = (key) => [...samples.map((s) => s[key])].sort((a, b) => a - b)[Math.floor(samples.length / 2)];
      result[resource] = Object.fromEntries(['first_draw_ms', 'longest_task_ms', 'filter_ms', 'heap_mb', 'items'].map((k) => [k, Math.round(median(k) * 10) / 10]));
    }
    console.log(`measure ${JSON.stringify(result)}`);
  },

  /**
   * Timings for BENCHMARKS.md, taken by the page itself (User Timing): from
   * the start of the /connect navigation to the object list drawn, and from
   * Run to 10,000 result rows painted.
   */
  async measure() {
    const runs = Number(process.env.RUNS || 5);
    const lists = [];
    const grids = [];
    for (let i = 0; i < runs; i++) {
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(`${BASE}/connect/shop`);
      await page.locator('#tree .item').first().waitFor();
      lists.push(await page.evaluate(() => performance.getEntriesByName('pgdoor:objects-drawn')[0].startTime));
      await page.locator('.tabs button[data-view=sql]').click();
      await editor(page).fill('SELECT g AS id, md5(g::text) AS hash, now() AS at FROM generate_series(1, 10000) g');
      await editor(page).press('Control+Enter');
      await page.locator('.status', { hasText: '10,000 rows' }).waitFor();
      await page.waitForFunction(() => performance.getEntriesByName('pgdoor:result-drawn').length > 0);
      grids.push(await page.evaluate(() => performance.getEntriesByName('pgdoor:result-drawn')[0].duration));
      const drawn = await page.locator('.grid-body .grid-row').count();
      assert.ok(drawn > 10 && drawn < 200, `only the visible rows are drawn (${drawn})`);
      await context.close();
    }
    const median = (xs) => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
    console.log(`measure ${JSON.stringify({ table_list_ms: median(lists), rows_10k_ms: median(grids), runs, lists, grids })}`);
  },
};

if (!scenarios[scenario]) {
  console.error(`unknown scenario "${scenario}": ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
try {
  await scenarios[scenario]();
  console.log(`ok ${scenario}`);
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
  for (const [i, page] of pages.entries()) {
    await page.screenshot({ path: path.join(ARTIFACTS, `${scenario}-failure-${i}.png`) }).catch(() => {});
  }
} finally {
  await browser.close();
}
