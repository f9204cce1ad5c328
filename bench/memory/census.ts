import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

/** Heap objects by kind and constructor name: [count, self bytes]. What `--census` diffs to find what a held capability keeps. */
export type Census = Record<string, [number, number]>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]]; location_fields?: string[] } };
  nodes: number[];
  edges: number[];
  strings: string[];
  locations?: number[];
}

/**
 * Takes a heap snapshot of this process and counts its objects by kind and name (strings by kind only).
 * With `detail`, a closure is also named by its script and line, and a plain object, array or context by
 * the edge that first retains it (`<- Owner.field`), so that anonymous kinds can be told apart.
 */
export function census(detail = false): Census {
  const file = writeHeapSnapshot(join(tmpdir(), `capsync-bench-memory-${process.pid}.heapsnapshot`));
  try {
    const snapshot = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
    const meta = snapshot.snapshot.meta;
    const width = meta.node_fields.length;
    const edgeWidth = meta.edge_fields.length;
    const types = meta.node_types[0];
    const edgeTypes = meta.edge_types[0];
    const { nodes, edges, strings } = snapshot;
    const nameOf = (node: number): string => strings[nodes[node + 1]!]!;
    const typeOf = (node: number): string => types[nodes[node]!]!;
    // The first non-weak retainer of each node, and each closure's script and line.
    const retainer = new Map<number, string>();
    const retainedBy = new Map<number, number>();
    const where = new Map<number, string>();
    if (detail) {
      const firstEdge: number[] = [];
      for (let i = 0, e = 0; i < nodes.length; i += width) {
        firstEdge.push(e);
        e += nodes[i + 4]! * edgeWidth;
      }
      const edgeTo = (node: number, name: string): number | undefined => {
        const start = firstEdge[node / width]!;
        for (let e = start; e < start + nodes[node + 4]! * edgeWidth; e += edgeWidth) {
          const type = edgeTypes[edges[e]!]!;
          if ((type === 'internal' || type === 'property') && strings[edges[e + 1]!] === name) return edges[e + 2]!;
        }
        return undefined;
      };
      for (let i = 0; i < nodes.length; i += width) {
        const start = firstEdge[i / width]!;
        const owner = `${typeOf(i)}:${nameOf(i).slice(0, 40)}`;
        for (let e = start; e < start + nodes[i + 4]! * edgeWidth; e += edgeWidth) {
          const type = edgeTypes[edges[e]!]!;
          if (type === 'weak' || type === 'shortcut') continue;
          const to = edges[e + 2]!;
          if (retainer.has(to)) continue;
          const label = type === 'element' || type === 'hidden' ? `[${type}]` : strings[edges[e + 1]!];
          retainer.set(to, `${owner}.${label}`);
          retainedBy.set(to, i);
        }
        if (typeOf(i) === 'closure') {
          const shared = edgeTo(i, 'shared');
          const script = shared === undefined ? undefined : (edgeTo(shared, 'script_or_debug_info') ?? edgeTo(shared, 'script'));
          where.set(i, script === undefined ? '?' : nameOf(script).split('/').slice(-2).join('/'));
        }
      }
      const locations = snapshot.locations ?? [];
      const locationWidth = meta.location_fields?.length ?? 4;
      for (let l = 0; l < locations.length; l += locationWidth) {
        const node = locations[l]!;
        if (where.has(node)) where.set(node, `${where.get(node)}:${locations[l + 2]! + 1}`);
      }
    }
    const counts: Census = {};
    for (let i = 0; i < nodes.length; i += width) {
      const type = typeOf(i);
      let key = type.includes('string') ? (detail ? `${type} <- ${retainer.get(i) ?? '?'}` : type) : `${type}:${nameOf(i).slice(0, 60)}`;
      if (detail && type === 'closure') key += ` @${where.get(i)}`;
      else if (detail && (key === 'object:Object' || key === 'object:Array' || key === 'object:system / Context' || key === 'array:' || key === 'closure:' || type === 'hidden' || key.startsWith('array:('))) {
        key += ` <- ${retainer.get(i) ?? '?'}`;
        // A collection's table: name the collection's owner too (two more steps).
        for (let up = retainedBy.get(i), steps = 0; up !== undefined && steps < 2 && (type === 'array' || type === 'hidden'); up = retainedBy.get(up), steps++) key += ` <- ${retainer.get(up) ?? '?'}`;
      }
      const entry = (counts[key] ??= [0, 0]);
      entry[0]++;
      entry[1] += nodes[i + 3]!;
    }
    return counts;
  } finally {
    rmSync(file, { force: true });
  }
}

/** What each kind grew by from `before` to `after`, per unit (a held capability, a connection). */
export function perUnit(before: Census, after: Census, units: number): Census {
  const out: Census = {};
  for (const [key, [count, bytes]] of Object.entries(after)) out[key] = [(count - (before[key]?.[0] ?? 0)) / units, (bytes - (before[key]?.[1] ?? 0)) / units];
  return out;
}

/** The kinds that grew most from `before` to `after`, per unit (a held capability, a connection). */
export function growth(before: Census, after: Census, units: number, top = 15): string[] {
  return lines(perUnit(before, after, units), top);
}

/** The biggest kinds of a census, one line each. */
export function lines(census: Census, top = 15): string[] {
  return Object.entries(census)
    .sort((a, b) => b[1][1] - a[1][1])
    .slice(0, top)
    .map(([key, [count, bytes]]) => `${bytes.toFixed(0).padStart(7)} B ${count.toFixed(2).padStart(6)} objects  ${key}`);
}
