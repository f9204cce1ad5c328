import type { RedisBackend } from '../../server/redis/index.js';

/** Store-level write traffic for the Redis failover bench and the tests of failover and slot migration. */

/** Store-level write traffic: see {@link traffic}. */
export interface Traffic {
  /** The keys of the acknowledged puts, in order. */
  readonly acked: string[];
  /** Puts that failed. */
  failed: number;
  /** The longest time between two acknowledgements (ms): how long writes stopped. */
  longestGapMs: number;
  /** Resolves once `n` more writes than now have been acknowledged (rejects after `limitMs`). */
  more(n: number, limitMs?: number): Promise<void>;
  /** Resolves once `n` more puts than now have ended, acknowledged or failed (rejects after `limitMs`). */
  tried(n: number, limitMs?: number): Promise<void>;
  /** Stops the loops and resolves once every put in flight has ended. */
  stop(): Promise<void>;
}

/**
 * Write traffic on `backend`: `lanes` loops, each putting fresh keys (`<lane>:<i>` under `['w', ...]`, states of
 * `bytes` bytes) one after the other, until `stop()`.
 */
export function traffic(backend: RedisBackend, lanes = 4, bytes = 2): Traffic {
  const acked: string[] = [];
  const waiters: { at: () => boolean; resolve: () => void }[] = [];
  let running = true;
  let ended = 0;
  let lastAck = performance.now();
  const settle = (): void => {
    for (const w of waiters.filter((w) => w.at())) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  const lane = async (l: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const key = `${l}:${i}`;
      try {
        const state = new Uint8Array(bytes);
        state[0] = l;
        state[1] = i & 255;
        await backend.store.put(['w', key], 'W', state);
        acked.push(key);
        const now = performance.now();
        out.longestGapMs = Math.max(out.longestGapMs, now - lastAck);
        lastAck = now;
      } catch {
        out.failed++;
      }
      ended++;
      settle();
    }
  };
  const loops = Promise.all(Array.from({ length: lanes }, (_, l) => lane(l)));
  const wait = (at: () => boolean, what: string, limitMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const limit = setTimeout(() => reject(new Error(`${what}: not within ${limitMs} ms (${acked.length} acknowledged, ${out.failed} failed)`)), limitMs);
      waiters.push({ at, resolve: () => (clearTimeout(limit), resolve()) });
    });
  const out: Traffic = {
    acked,
    failed: 0,
    longestGapMs: 0,
    more(n, limitMs = 15_000) {
      const target = acked.length + n;
      return wait(() => acked.length >= target, `${n} more acknowledged writes`, limitMs);
    },
    tried(n, limitMs = 15_000) {
      const target = ended + n;
      return wait(() => ended >= target, `${n} more writes ended`, limitMs);
    },
    async stop() {
      running = false;
      await loops;
    },
  };
  return out;
}
