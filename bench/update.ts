/**
 * `npm run bench:update`: what an atomic `live.update` costs next to a plain `live.put`, measured in the
 * same run, on each store: SQLite in a file (WAL, as a server runs it), SQLite `:memory:`, the MemoryStore,
 * and a store without an atomic `update` (LiveObjects' fallback: a read, then a conditional put). Each op
 * changes one field of one object; `update` reads it inside the transaction, `put` writes a state the
 * caller already holds. Also a burst of 100 concurrent updates of one object (none may be lost: checked).
 *
 * Prints µs per operation, the median of interleaved rounds (a burst of load hits every op alike), and the
 * ratio update/put per store. `--quick` runs 3 short rounds (what the test uses).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Video } from '../examples/video/video.js';
import { Codec } from '../protocol/codec.js';
import { LocalFanout } from '../server/fanout.js';
import { LiveObjects } from '../server/live.js';
import { MemoryStore } from '../server/store/memory.js';
import { SqliteStore } from '../server/store/sqlite.js';
import type { ObjectStore } from '../server/store/types.js';
import { withoutUpdate } from './without-update.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 11;
const OPS_PER_SLICE = quick ? 200 : 2000;
const BURST = 100;
const address = ['youtube_videos', 'bench'];

interface Subject {
  readonly name: string;
  readonly live: LiveObjects;
  readonly store: ObjectStore;
  readonly samples: Record<'put' | 'update' | 'burst', number[]>;
}

async function subject(name: string, store: ObjectStore): Promise<Subject> {
  const live = new LiveObjects(store, new LocalFanout(), new Codec());
  await live.put(new Video('bench', { title: '0', description: 'a description of usual length, a sentence or two' }));
  return { name, live, store, samples: { put: [], update: [], burst: [] } };
}

async function timed(n: number, run: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await run(i);
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

async function round(s: Subject): Promise<void> {
  const held = (await s.live.get(Video, address))!;
  s.samples.put.push(await timed(OPS_PER_SLICE, (i) => ((held.title = String(i)), s.live.put(held))));
  s.samples.update.push(await timed(OPS_PER_SLICE, () => s.live.update(Video, address, (v) => void (v.title = String(Number(v.title) + 1)))));
  const before = (await s.live.get(Video, address))!;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: BURST }, () => s.live.update(Video, address, (v) => void (v.title = String(Number(v.title) + 1)))));
  s.samples.burst.push(Number(process.hrtime.bigint() - start) / 1000 / BURST);
  const after = (await s.live.get(Video, address))!;
  if (Number(after.title) !== Number(before.title) + BURST) throw new Error(`${s.name}: a concurrent update was lost`);
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'capsync-bench-update-'));
  try {
    const subjects = [
      await subject('SQLite file (WAL)', new SqliteStore(join(dir, 'bench.sqlite'))),
      await subject('SQLite :memory:', new SqliteStore(':memory:')),
      await subject('MemoryStore', new MemoryStore()),
      await subject('no atomic update (read + ifVersion put)', withoutUpdate(new MemoryStore())),
    ];
    for (let r = 0; r < ROUNDS; r++) for (const s of subjects) await round(s);
    console.log(`live.update vs live.put, µs per op, median of ${ROUNDS} interleaved rounds of ${OPS_PER_SLICE} sequential ops; burst: ${BURST} concurrent updates of one object`);
    console.log(['store'.padEnd(42), 'put'.padStart(8), 'update'.padStart(8), 'ratio'.padStart(7), 'burst/op'.padStart(9)].join(' '));
    const results = subjects.map((s) => {
      const put = median(s.samples.put);
      const update = median(s.samples.update);
      const burst = median(s.samples.burst);
      console.log([s.name.padEnd(42), put.toFixed(2).padStart(8), update.toFixed(2).padStart(8), `${(update / put).toFixed(2)}x`.padStart(7), burst.toFixed(2).padStart(9)].join(' '));
      return { store: s.name, putUs: put, updateUs: update, burstUs: burst };
    });
    if (process.argv.includes('--json')) console.log(JSON.stringify(results));
    for (const s of subjects) await s.store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
