// Building DOM nodes. Text always goes in as text nodes: nothing from the
// database or the server is ever parsed as HTML.

/** Creates an element; `attrs` holds attributes, `on…` listeners and `class`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    // Through the CSSOM: the page's CSP forbids style attributes.
    else if (key === 'style') el.style.cssText = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Text of a value for display and copy; NULL as the word. */
export function text(value) {
  if (value === null) return 'NULL';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Formats a count: 1234567 -> "1,234,567". */
export const count = (n) => Number(n).toLocaleString('en-US');

/** A byte count for people: 512 bytes, 3.4 MB, 1.2 GB. */
export function size(n) {
  if (n < 1000) return `${n} bytes`;
  const [unit, scale] = n < 1e6 ? ['kB', 1e3] : n < 1e9 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(n / scale).toFixed(1)} ${unit}`;
}

/** Copies text, with a short confirmation on `button`. */
export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', { class: 'offscreen' }, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 1200);
  }
}

/** Saves a Blob as a file through a temporary link. */
export function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename, class: 'offscreen' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}
