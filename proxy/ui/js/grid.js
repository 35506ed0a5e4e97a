// The results grid: draws only the rows in view, so 10,000 rows scroll as
// smoothly as 10. NULL is shown distinctly, numbers are right-aligned, every
// value is text, on one line (a line break shows as ↵). Arrow keys move the
// active cell, Enter opens it, Alt+Enter follows its link, Ctrl/Cmd+C
// copies it. The table view adds column types, links to related rows,
// marks for staged edits and its own way to open a cell.

import { h, fill, text } from './dom.js';
import { openCell } from './cell.js';

const ROW_HEIGHT = 28;
/** localStorage key prefix of the column widths kept per table. */
const WIDTHS = 'pgdoor.widths.';
const OVERSCAN = 12;
/** Grids made so far: each one's cells get ids of their own. */
let made = 0;
/** Type OIDs shown right-aligned: int2, int4, int8, oid, float4, float8, numeric, money. */
const NUMERIC = new Set([21, 23, 20, 26, 700, 701, 1700, 790]);

/**
 * Creates a grid. `options.onSort(column)` makes headers sort buttons;
 * `options.sort` is `{column, order}` to mark the current one;
 * `typeNames[i]` is shown under a header; `cellClass(r, c)` adds classes
 * and `cellTitle(r, c)` a tooltip to a cell; `cellLink(r, c)` gives a
 * cell a link, `{href, label}` (clicked, or Alt+Enter on the cell); `onOpen(r, c)` replaces the
 * viewer on double-click and Enter; `onKey(event, active)` hears other
 * keys first; `start` is the first active cell; with `widthsKey` the
 * columns can be resized (drag or arrow keys on a header's edge) and keep
 * their widths under that key. The element has `redraw()` and `active()`.
 */
export function grid({
  columns, rows, types = [], typeNames = [], sort, onSort, label = 'Results', cellClass, cellTitle, cellLink, onOpen, onKey, start, widthsKey,
}) {
  // Widths in em of the grid's font: monospace values, a proportional bold header.
  const widths = columns.map((name, i) => {
    let longest = 4;
    for (let r = 0; r < Math.min(rows.length, 200); r++) longest = Math.max(longest, text(rows[r][i]).length);
    const header = Math.max(name.length, (typeNames[i] || '').length * 0.85) * 0.7 + (onSort ? 3 : 2);
    return Math.max(header, Math.min(longest, 60) * 0.6 + 1.4);
  });
  const kept = widthsKey ? JSON.parse(localStorage.getItem(WIDTHS + widthsKey) || '{}') : {};
  columns.forEach((name, i) => { if (kept[name] > 0) widths[i] = kept[name]; });
  const template = () => widths.map((w) => `${w.toFixed(1)}em`).join(' ');
  const numeric = columns.map((_, i) => NUMERIC.has(types[i]));
  const header = h('div', { class: 'grid-row grid-head', role: 'row', 'aria-rowindex': 1 },
    columns.map((name, i) => {
      const active = sort && sort.column === name;
      const mark = active ? (sort.order === 'DESC' ? ' ▼' : ' ▲') : '';
      const type = typeNames[i] && h('span', { class: 'col-type' }, typeNames[i]);
      // The type stays outside the button: its name says what it does, and holds the text it shows.
      const content = onSort
        ? [h('button', { class: 'sort', onclick: () => onSort(name), 'aria-label': `Sort by ${name}` }, name, mark), type]
        : [name, type];
      return h('div', {
        class: numeric[i] ? 'cell num' : 'cell', role: 'columnheader',
        'aria-sort': active ? (sort.order === 'DESC' ? 'descending' : 'ascending') : false,
      }, content, widthsKey && resizer(i, name));
    }));
  const body = h('div', { class: 'grid-body', style: `height:${rows.length * ROW_HEIGHT}px` });
  const root = h('div', {
    class: 'grid', role: 'grid', tabindex: 0, 'aria-label': label,
    'aria-rowcount': rows.length + 1, 'aria-colcount': columns.length,
    style: `--columns:${template()}`,
  }, header, body);
  if (typeNames.length) root.classList.add('typed');
  let active = start ? { ...start } : { row: 0, col: 0 };
  const id = `grid${++made}`;
  const cellId = (r, c) => `${id}-${r}-${c}`;
  /** Tells assistive technology which cell is active (when it is drawn). */
  const announce = () => {
    if (body.querySelector(`#${cellId(active.row, active.col)}`)) root.setAttribute('aria-activedescendant', cellId(active.row, active.col));
    else root.removeAttribute('aria-activedescendant');
  };

  /** A header's edge: drag it, or focus it and press ← →, to size its column. */
  function resizer(i, name) {
    const set = (em) => {
      widths[i] = Math.max(3, Math.min(120, em));
      root.style.setProperty('--columns', template());
      handle.setAttribute('aria-valuenow', Math.round(widths[i]));
    };
    const keep = () => {
      const all = JSON.parse(localStorage.getItem(WIDTHS + widthsKey) || '{}');
      all[name] = Number(widths[i].toFixed(1));
      localStorage.setItem(WIDTHS + widthsKey, JSON.stringify(all));
    };
    const handle = h('span', {
      class: 'resize', role: 'separator', tabindex: 0, 'aria-orientation': 'vertical', 'aria-label': `Resize ${name}`,
      'aria-valuemin': 3, 'aria-valuemax': 120, 'aria-valuenow': Math.round(widths[i]),
      onpointerdown: (event) => {
        event.preventDefault();
        const em = parseFloat(getComputedStyle(root).fontSize);
        const from = event.clientX;
        const was = widths[i];
        const move = (e) => set(was + (e.clientX - from) / em);
        const up = () => { removeEventListener('pointermove', move); removeEventListener('pointerup', up); keep(); };
        addEventListener('pointermove', move);
        addEventListener('pointerup', up);
      },
      onclick: (event) => event.stopPropagation(),
      onkeydown: (event) => {
        const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
        if (!step) return;
        event.preventDefault();
        event.stopPropagation();
        set(widths[i] + step * (event.shiftKey ? 5 : 1));
        keep();
      },
    });
    return handle;
  }
  let drawn = { from: -1, to: -1 };

  function draw(force) {
    const top = Math.max(0, root.scrollTop - ROW_HEIGHT);
    const from = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const to = Math.min(rows.length, Math.ceil((top + root.clientHeight + ROW_HEIGHT) / ROW_HEIGHT) + OVERSCAN);
    if (!force && from === drawn.from && to === drawn.to) return;
    drawn = { from, to };
    const fragment = document.createDocumentFragment();
    for (let r = from; r < to; r++) {
      const row = rows[r];
      fragment.append(h('div', {
        class: 'grid-row', role: 'row', 'aria-rowindex': r + 2, style: `transform:translateY(${r * ROW_HEIGHT}px)`,
      }, row.map((value, c) => {
        const link = cellLink?.(r, c);
        const shown = text(value);
        const lines = value === null ? 1 : shown.split(LINE_BREAK).length;
        return h('div', {
          class: `cell${value === null ? ' null' : ''}${numeric[c] ? ' num' : ''}${r === active.row && c === active.col ? ' active' : ''}${link ? ' linked' : ''}${cellClass ? ` ${cellClass(r, c)}` : ''}`,
          role: 'gridcell', id: cellId(r, c), dataset: { r, c },
          title: cellTitle?.(r, c) || (lines > 1 ? `${lines} lines: double-click to view` : shown.length > 60 ? 'Double-click to view' : false),
        }, link && h('a', { class: 'cell-link', href: link.href, tabindex: -1, title: link.label, 'aria-label': link.label }), oneLine(shown));
      })));
    }
    fill(body, fragment);
    announce();
  }

  /** Scrolls the active cell into view, sideways too (the header stays above it). */
  function reveal() {
    const y = active.row * ROW_HEIGHT;
    if (y < root.scrollTop) root.scrollTop = y;
    else if (y + ROW_HEIGHT * 2 > root.scrollTop + root.clientHeight) root.scrollTop = y - root.clientHeight + ROW_HEIGHT * 2;
    draw(true);
    const cell = body.querySelector(`#${cellId(active.row, active.col)}`);
    if (!cell) return;
    const box = cell.getBoundingClientRect();
    const left = root.getBoundingClientRect().left + root.clientLeft;
    if (box.left < left) root.scrollLeft -= Math.ceil(left - box.left);
    else if (box.right > left + root.clientWidth) root.scrollLeft += Math.ceil(box.right - (left + root.clientWidth));
  }

  let pending = false;
  root.addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(false); });
  });
  const cellAt = (event) => event.target.closest('[role=gridcell]');
  root.addEventListener('click', (event) => {
    const cell = cellAt(event);
    if (!cell) return;
    root.querySelector('.cell.active')?.classList.remove('active');
    cell.classList.add('active');
    active = { row: Number(cell.dataset.r), col: Number(cell.dataset.c) };
    announce();
  });
  root.addEventListener('dblclick', (event) => {
    const cell = cellAt(event);
    if (cell) show(Number(cell.dataset.r), Number(cell.dataset.c));
  });
  root.addEventListener('keydown', (event) => {
    onKey?.(event, active);
    if (!rows.length || event.defaultPrevented) return;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1], PageUp: [-10, 0], PageDown: [10, 0] };
    if (moves[event.key]) {
      const [dr, dc] = moves[event.key];
      active = {
        row: Math.min(rows.length - 1, Math.max(0, active.row + dr)),
        col: Math.min(columns.length - 1, Math.max(0, active.col + dc)),
      };
      reveal();
      event.preventDefault();
    } else if (event.key === 'Enter' && event.altKey) {
      const link = cellLink?.(active.row, active.col);
      if (link) location.assign(link.href);
      event.preventDefault();
    } else if (event.key === 'Enter') {
      show(active.row, active.col);
      event.preventDefault();
    } else if ((event.ctrlKey || event.metaKey) && event.key === 'c' && !getSelection().toString()) {
      navigator.clipboard?.writeText(text(rows[active.row][active.col]));
      event.preventDefault();
    }
  });
  function show(r, c) {
    if (onOpen) return onOpen(r, c);
    openCell({ column: columns[c], value: rows[r][c], row: Object.fromEntries(columns.map((name, i) => [name, rows[r][i]])) });
  }
  root.redraw = () => draw(true);
  root.active = () => ({ ...active });
  new ResizeObserver(() => draw(false)).observe(root);
  requestAnimationFrame(() => draw(false));
  draw(true);
  return root;
}

const LINE_BREAK = /\r\n|[\n\r\u2028\u2029]/;

/** A value as one line of at most 300 characters: a row never shows a clipped second line. */
function oneLine(s) {
  const cut = s.length > 300 ? `${s.slice(0, 300)}…` : s;
  return cut.replace(new RegExp(LINE_BREAK, 'g'), ' ↵ ');
}
