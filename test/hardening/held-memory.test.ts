import { describe, expect, it } from 'vitest';
import { bundledBench } from '../bench-kit.js';

/**
 * What the server keeps per held capability (issue 11), in a short form of `npm run bench:memory`: the
 * server child measures after full collections (`--expose-gc`) at two counts on one connection, and the
 * figure is the difference between them over the capabilities added, so what does not grow with them (code,
 * caches made once, the connection) cancels out. Retained bytes, not a timing: the same under load.
 *
 * Before the compact holding record each held capability kept about 4,100 bytes (five Uint8Arrays with
 * their own buffers, three cache entries, a WeakMap status, lists of tags, ids and marks), then about 1,440,
 * then about 1,300 (a bound child's list of blocks made at its length), then about 935 (tokens kept as
 * their buffer and offsets rather than a Uint8Array view each, one shared record for every plain root,
 * binding blocks shared per audience, a plain holding kept as the bare capability). Then about 860: the
 * bound child is one verification with its root folded in, not two. Now about 700: the holding is also the
 * record that the capability was sent, a verification is its capability's chain (one object, not two) with
 * fewer slots, and the verified cache is a fixed-size index of small integers. Now about 590: a verified
 * capability keeps no decoded blocks (its verification answers what a holding asks; they are read from its
 * token when asked). Then about 495: capabilities of equal scopes share one scope list (the demo's three
videos, granted afresh on every call). One that expires kept about 1,730, then about 1,435, then about 1,075 (the holding is
 * its own entry on the deadline heap), then about 850, then about 725; now about 635. One of an object
nobody else holds (`--distinct`) kept about 1,335 (the server's index of who holds what kept two maps and
two ropes per object); now about 750.
 */
const bench = bundledBench('held-memory', 'bench/memory', ['bench/memory/run.ts', 'bench/memory/child.ts']);

async function perCapability(extra: string[]): Promise<{ perCapability: number; output: string }> {
  const { code, output } = await bench.run('run.js', ['--held', '2000,6000', '--connections', '0', '--waves', '0', '--json', ...extra]);
  expect(code, output).toBe(0);
  const { held } = JSON.parse(output.trim().split('\n').pop()!) as { held: { held: number; totalPerCap: number }[] };
  const [low, high] = held as [{ held: number; totalPerCap: number }, { held: number; totalPerCap: number }];
  expect(high.held - low.held).toBeGreaterThanOrEqual(3_000);
  return { perCapability: (high.totalPerCap * high.held - low.totalPerCap * low.held) / (high.held - low.held), output };
}

describe('bytes per held capability', () => {
  it('keeps each capability a connection holds in under 560 bytes of server memory, its token bytes included (it was about 4,100, then 1,300, then 860, then 700, then 590)', async () => {
    const { perCapability: bytes, output } = await perCapability([]);
    expect(bytes, output).toBeLessThan(560);
  }, 180_000);

  it('keeps each expiring capability in under 700 bytes, its deadline included (it was about 1,730, then 1,435, then 1,075, then 850, then 725)', async () => {
    const { perCapability: bytes, output } = await perCapability(['--expiring']);
    expect(bytes, output).toBeLessThan(700);
  }, 180_000);

  it('keeps each capability of an object nobody else holds in under 820 bytes, its share of the index of holders included (it was about 1,335)', async () => {
    const { perCapability: bytes, output } = await perCapability(['--distinct']);
    expect(bytes, output).toBeLessThan(820);
  }, 180_000);
});
