import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Summarises a V8 `.cpuprofile` (from `npm run bench:peers -- --profile DIR`): the functions with the most
 * self time and the most inclusive time, as a share of the busy (non-idle) samples.
 *
 * Usage: `node dist/bench/peers/profile-summary.js FILE.cpuprofile [--top 25] [--filter TEXT]`
 */

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
}

interface Row {
  readonly key: string;
  self: number;
  total: number;
}

const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

function frameKey(node: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  let where = url;
  if (url.startsWith('file://')) where = relative(root, fileURLToPath(url));
  else if (url.startsWith('node:')) where = url;
  const name = functionName || '(anonymous)';
  return where ? `${name}  ${where}:${lineNumber + 1}` : name;
}

/** Self and inclusive sample counts per function, and the busy total. */
export function summarise(profile: Profile, root = process.cwd()): { rows: Row[]; busy: number; gc: number; total: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const rows = new Map<string, Row>();
  let busy = 0;
  let gc = 0;
  let total = 0;
  const row = (key: string): Row => {
    let r = rows.get(key);
    if (r === undefined) rows.set(key, (r = { key, self: 0, total: 0 }));
    return r;
  };
  // Inclusive counts: walk the tree once, counting a function once per stack even when it recurses.
  const walk = (id: number, onStack: Map<string, number>): number => {
    const node = byId.get(id)!;
    const key = frameKey(node, root);
    const hits = node.hitCount ?? 0;
    total += hits;
    if (node.callFrame.functionName === '(garbage collector)') gc += hits;
    if (!IDLE.has(node.callFrame.functionName) || node.callFrame.functionName === '(garbage collector)') busy += hits;
    if (!IDLE.has(node.callFrame.functionName)) row(key).self += hits;
    onStack.set(key, (onStack.get(key) ?? 0) + 1);
    let subtree = hits;
    for (const child of node.children ?? []) subtree += walk(child, onStack);
    const depth = onStack.get(key)! - 1;
    if (depth === 0) {
      onStack.delete(key);
      if (!IDLE.has(node.callFrame.functionName)) row(key).total += subtree;
    } else onStack.set(key, depth);
    return subtree;
  };
  const root0 = profile.nodes[0];
  if (root0 !== undefined) walk(root0.id, new Map());
  return { rows: [...rows.values()], busy, gc, total };
}

function main(): void {
  process.stdout.on('error', () => process.exit(0)); // piped into head: stop quietly
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (file === undefined) {
    process.stderr.write('usage: profile-summary FILE.cpuprofile [--top N] [--filter TEXT]\n');
    process.exit(2);
  }
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
  const filterIndex = args.indexOf('--filter');
  const filter = filterIndex >= 0 ? args[filterIndex + 1] : undefined;
  const { rows, busy, gc, total } = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const pct = (n: number): string => `${((100 * n) / busy).toFixed(1).padStart(5)}%`;
  const shown = filter === undefined ? rows : rows.filter((r) => r.key.includes(filter));
  process.stdout.write(`${file}: ${total} samples, ${busy} busy (${((100 * busy) / total).toFixed(0)}%), GC ${pct(gc)} of busy\n\n`);
  process.stdout.write('self    total   function\n');
  for (const r of [...shown].sort((a, b) => b.self - a.self).slice(0, top)) process.stdout.write(`${pct(r.self)}  ${pct(r.total)}  ${r.key}\n`);
  process.stdout.write('\nby inclusive time\nself    total   function\n');
  for (const r of [...shown].sort((a, b) => b.total - a.total).slice(0, top)) process.stdout.write(`${pct(r.self)}  ${pct(r.total)}  ${r.key}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
