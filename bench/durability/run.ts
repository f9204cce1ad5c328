import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../args.js';
import { SqliteStore } from '../../server/store/sqlite.js';

/**
 * `npm run bench:durability`: acknowledged writes per second of a SqliteStore file, one write awaited at a
 * time (as a server function's `live.put`), with `durability: 'full'` (the default: fsync per commit) and
 * `'normal'`, in interleaved rounds in one run. Medians.
 */
const { values } = benchArgs('bench:durability', { options: { writes: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } } });
const writes = Number(values.writes);

async function writesPerSecond(durability: 'full' | 'normal'): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'capsync-durability-'));
  const store = new SqliteStore(join(dir, 'bench.sqlite'), { durability });
  try {
    const state = new Uint8Array(200).fill(7);
    const start = performance.now();
    for (let i = 0; i < writes; i++) await store.put(['bench', i % 100], 'Item', state);
    return Math.round((writes * 1000) / (performance.now() - start));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<'full' | 'normal', number[]> = { full: [], normal: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  for (const mode of ['full', 'normal'] as const) results[mode].push(await writesPerSecond(mode));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const full = median(results.full);
const normal = median(results.normal);
if (values.json) console.log(JSON.stringify({ full, normal, results }));
else {
  console.log(`SqliteStore, ${writes} acknowledged puts one at a time, medians of ${values.rounds} interleaved rounds:`);
  console.log(`  durability 'full'   (synchronous = FULL, default): ${full} writes/s`);
  console.log(`  durability 'normal' (synchronous = NORMAL):        ${normal} writes/s (${(normal / full).toFixed(1)}x)`);
}
