import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { LiveRegistry } from '../../client/live-registry.js';
import { Note } from './fake-server.js';

/** The engine's collector, if this process may call it (V8 allows exposing it at run time). */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
const gc = collector();

/**
 * Collects until `done()` holds or 50 turns pass: finalizers run as tasks after a collection, so each turn
 * collects and then yields once to the event loop. A bound on turns, not a timed wait.
 */
async function collectUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !done(); i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const push = (id: string, version: number, state: Record<string, unknown> | null) => ({ address: ['notes', id], type: 'test.client.Note', version, state });

describe('the live registry', () => {
  it('applies a push to every instance at the address, as own data fields', () => {
    const registry = new LiveRegistry();
    const a = new Note('n1', 'a');
    const b = new Note('n1', 'b');
    registry.adopt(a);
    registry.adopt(b);
    expect(registry.apply(push('n1', 1, { text: 'both' }))).toBe('applied');
    expect([a.text, b.text]).toEqual(['both', 'both']);
    expect(Object.getOwnPropertyDescriptor(a, 'text')).toMatchObject({ writable: true, enumerable: true, configurable: true });
  });

  it('says what became of each push', () => {
    const registry = new LiveRegistry();
    registry.adopt(Object.assign(new Note('n1', 'a'), { version: 3 }));
    expect(registry.apply(push('n1', 3, { text: 'same version' }))).toBe('stale');
    expect(registry.apply(push('n1', 4, { rename: 'shadow' }))).toBe('invalid');
    expect(registry.apply(push('other', 1, { text: 'x' }))).toBe('untracked');
    expect(registry.apply(push('other', 2, { constructor: 'x' }))).toBe('invalid');
    expect(registry.apply(push('other', 3, null))).toBe('untracked');
    expect(registry.apply(push('n1', 4, null))).toBe('applied');
    expect(registry.size).toBe(0);
  });

  it('refuses state for a frozen instance rather than half-applying it', () => {
    const registry = new LiveRegistry();
    const open = new Note('n1', 'open');
    const frozen = Object.freeze(new Note('n1', 'frozen'));
    registry.adopt(open);
    registry.adopt(frozen);
    expect(registry.apply(push('n1', 1, { text: 'new' }))).toBe('invalid');
    expect([open.text, frozen.text]).toEqual(['open', 'frozen']);
  });

  it.skipIf(gc === undefined)('lets go of an instance nobody references, and forgets its address', async () => {
    const registry = new LiveRegistry();
    const kept = new Note('kept', 'k');
    registry.adopt(kept);
    (() => registry.adopt(new Note('dropped', 'd')))();
    expect(registry.size).toBe(2);
    await collectUntil(() => registry.size === 1);
    expect(registry.size).toBe(1);
    expect(registry.apply(push('kept', 1, { text: 'still here' }))).toBe('applied');
    expect(kept.text).toBe('still here');
    expect(registry.apply(push('dropped', 1, { text: 'gone' }))).toBe('untracked');
  });

  it.skipIf(gc === undefined)('keeps an instance alive while live() observes it, and emits that same instance', async () => {
    const registry = new LiveRegistry();
    const seen: Note[] = [];
    const sub = (() => registry.observe(new Note('watched', 'w')).subscribe((n) => seen.push(n)))();
    // Give a collection every chance: the observed instance must survive it.
    (() => registry.adopt(new Note('canary', 'c')))();
    await collectUntil(() => registry.size === 1);
    expect(registry.size).toBe(1);
    registry.apply(push('watched', 1, { text: 'updated' }));
    expect(seen.map((n) => n.text)).toEqual(['updated', 'updated']);
    expect(seen[0]).toBe(seen[1]);
    sub.unsubscribe();
  });
});
