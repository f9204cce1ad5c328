import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

/** Heap objects by kind and constructor name: [count, self bytes]. What `--census` diffs to find what a held capability keeps. */
export type Census = Record<string, [number, number]>;

/** Takes a heap snapshot of this process and counts its objects by kind and name (strings by kind only). */
export function census(): Census {
  const file = writeHeapSnapshot(join(tmpdir(), `capsync-bench-memory-${process.pid}.heapsnapshot`));
  try {
    const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[];
    };
    const width = snapshot.snapshot.meta.node_fields.length;
    const types = snapshot.snapshot.meta.node_types[0];
    const counts: Census = {};
    for (let i = 0; i < snapshot.nodes.length; i += width) {
      const type = types[snapshot.nodes[i]!]!;
      const key = type.includes('string') ? type : `${type}:${snapshot.strings[snapshot.nodes[i + 1]!]!.slice(0, 60)}`;
      const entry = (counts[key] ??= [0, 0]);
      entry[0]++;
      entry[1] += snapshot.nodes[i + 3]!;
    }
    return counts;
  } finally {
    rmSync(file, { force: true });
  }
}

/** The kinds that grew most from `before` to `after`, per unit (a held capability, a connection). */
export function growth(before: Census, after: Census, units: number, top = 15): string[] {
  return Object.entries(after)
    .map(([key, [count, bytes]]) => [key, (count - (before[key]?.[0] ?? 0)) / units, (bytes - (before[key]?.[1] ?? 0)) / units] as const)
    .sort((a, b) => b[2] - a[2])
    .slice(0, top)
    .map(([key, count, bytes]) => `${bytes.toFixed(0).padStart(7)} B ${count.toFixed(2).padStart(6)} objects  ${key}`);
}
