// A plan people can read: EXPLAIN's JSON as a tree of nodes (type,
// relation, rows estimated against actual, time, loops, buffers), the
// costliest nodes marked in words and colour, and the whole plan as text
// one click away, written from the same JSON (nothing runs again).

import { h, count } from './dom.js';

/** Keys shown in a node's details, when it has them. */
const DETAILS = [
  'Index Cond', 'Recheck Cond', 'Filter', 'Rows Removed by Filter', 'Join Filter', 'Rows Removed by Join Filter',
  'Hash Cond', 'Merge Cond', 'Sort Key', 'Sort Method', 'Group Key', 'Heap Fetches', 'Workers Planned', 'Workers Launched',
];

/** The plan a JSON plan answer holds: `{Plan, Planning Time, Execution Time, ...}`, or null. */
export function planOf(data) {
  if (data.columns?.length !== 1 || data.columns[0] !== 'QUERY PLAN' || data.rows.length !== 1) return null;
  const value = data.rows[0][0];
  try {
    const parsed = typeof value === 'string' ? JSON.parse(value) : value;
    return Array.isArray(parsed) && parsed[0]?.Plan ? parsed[0] : null;
  } catch {
    return null;
  }
}

const ms = (n) => `${n < 10 ? n.toFixed(3) : n < 1000 ? n.toFixed(1) : count(Math.round(n))} ms`;

/** Each node with its own (exclusive) time or cost: what it spent apart from its children. */
function measure(node, analyzed) {
  const children = node.Plans || [];
  children.forEach((child) => measure(child, analyzed));
  const total = analyzed ? (node['Actual Total Time'] ?? 0) * (node['Actual Loops'] ?? 1) : node['Total Cost'] ?? 0;
  node.$total = total;
  node.$own = Math.max(0, total - children.filter((c) => !c['Parent Relationship']?.startsWith('InitPlan')).reduce((n, c) => n + c.$total, 0));
}

function all(node) {
  return [node, ...(node.Plans || []).flatMap(all)];
}

function title(node) {
  const on = node['Relation Name'] && `${node.Schema ? `${node.Schema}.` : ''}${node['Relation Name']}${node.Alias && node.Alias !== node['Relation Name'] ? ` ${node.Alias}` : ''}`;
  return [node['Node Type'], node['Join Type'] && ` (${node['Join Type']})`, on && ` on ${on}`, node['Index Name'] && ` using ${node['Index Name']}`,
    node['CTE Name'] && ` ${node['CTE Name']}`].filter(Boolean).join('');
}

/** The tree: nested disclosure widgets, every one open. */
export function planTree(plan, analyzed) {
  const root = plan.Plan;
  measure(root, analyzed);
  const nodes = all(root);
  const whole = root.$total || 1;
  const hot = new Set([...nodes].sort((a, b) => b.$own - a.$own).slice(0, 3).filter((n) => n.$own / whole >= 0.1));
  const draw = (node) => {
    const est = node['Plan Rows'];
    const actual = node['Actual Rows'];
    const loops = node['Actual Loops'] ?? 1;
    const share = Math.round((node.$own / whole) * 100);
    const off = analyzed && est > 0 && actual != null && (actual / est >= 10 || (actual > 0 && est / actual >= 10));
    const facts = [
      analyzed
        ? h('span', {}, `rows ${count(actual * loops)} (estimated ${count(est * loops)})`, off && h('strong', { class: 'misestimate' },
          actual > est ? ` estimate ${count(Math.round(actual / est))}× too low` : ` estimate ${count(Math.round(est / Math.max(actual, 1)))}× too high`))
        : h('span', {}, `rows ≈ ${count(est)}`),
      analyzed && h('span', {}, `${ms(node['Actual Total Time'] * loops)}${loops > 1 ? ` over ${count(loops)} loops` : ''}`),
      !analyzed && h('span', {}, `cost ${node['Startup Cost']}..${node['Total Cost']}`),
      (node['Shared Hit Blocks'] || node['Shared Read Blocks']) ? h('span', {}, `buffers hit ${count(node['Shared Hit Blocks'] || 0)}, read ${count(node['Shared Read Blocks'] || 0)}`) : null,
      hot.has(node) && h('strong', { class: 'hot-label' }, `${share}% of the ${analyzed ? 'time' : 'cost'} spent here`),
    ];
    const details = DETAILS.filter((k) => node[k] != null).map((k) => h('li', {}, h('span', { class: 'muted' }, `${k}: `),
      Array.isArray(node[k]) ? node[k].join(', ') : String(node[k])));
    return h('details', { open: true, class: hot.has(node) ? 'plan-node hot' : 'plan-node' },
      h('summary', {}, h('span', { class: 'node-type' }, title(node)), h('span', { class: 'node-facts' }, facts)),
      details.length > 0 && h('ul', { class: 'node-details' }, details),
      (node.Plans || []).map(draw));
  };
  return h('div', { class: 'plan' },
    h('p', { class: 'status' }, analyzed
      ? `Planning ${ms(plan['Planning Time'] ?? 0)} · execution ${ms(plan['Execution Time'] ?? 0)}`
      : 'Estimated plan: nothing ran.'),
    draw(root));
}

/** The plan as PostgreSQL's text format writes it, from the same JSON. */
export function planText(plan, analyzed) {
  const lines = [];
  const walk = (node, depth) => {
    const pad = depth ? `${' '.repeat(depth * 6 - 4)}->  ` : '';
    const cost = `(cost=${node['Startup Cost'].toFixed(2)}..${node['Total Cost'].toFixed(2)} rows=${node['Plan Rows']} width=${node['Plan Width']})`;
    const actual = analyzed && node['Actual Loops'] != null
      ? ` (actual time=${node['Actual Startup Time'].toFixed(3)}..${node['Actual Total Time'].toFixed(3)} rows=${node['Actual Rows']} loops=${node['Actual Loops']})`
      : '';
    lines.push(`${pad}${title(node)}  ${cost}${actual}`);
    const inner = ' '.repeat(depth ? depth * 6 + 2 : 2);
    for (const key of ['Output', ...DETAILS]) if (node[key] != null) lines.push(`${inner}${key}: ${Array.isArray(node[key]) ? node[key].join(', ') : node[key]}`);
    if (node['Shared Hit Blocks'] != null) lines.push(`${inner}Buffers: shared hit=${node['Shared Hit Blocks']} read=${node['Shared Read Blocks'] || 0}`);
    (node.Plans || []).forEach((child) => walk(child, depth + 1));
  };
  walk(plan.Plan, 0);
  if (plan['Planning Time'] != null) lines.push(`Planning Time: ${plan['Planning Time'].toFixed(3)} ms`);
  if (plan['Execution Time'] != null) lines.push(`Execution Time: ${plan['Execution Time'].toFixed(3)} ms`);
  return lines.join('\n');
}
