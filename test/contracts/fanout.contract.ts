import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fanout, ObjectUpdate } from '../../server/fanout.js';

/**
 * The `Fanout` contract, written against the interface only. `factory` gives a fresh fan-out per test; the
 * suite closes it afterwards. Delivery may be asynchronous (a Redis fan-out hears its own publish later),
 * so tests wait for what they expect to arrive, and prove that something did not arrive by waiting for a
 * later update on another subscriber: one fan-out delivers updates in the order they were published.
 */
export function fanoutContract(name: string, factory: () => Fanout | Promise<Fanout>): void {
  describe(`${name} (Fanout contract)`, () => {
    let fanout: Fanout;
    beforeEach(async () => {
      fanout = await factory();
    });
    afterEach(async () => {
      await fanout.close();
    });

    const update = (n: number, state: Record<string, unknown> | null = { n, nested: { list: [1, 'two', null] } }): ObjectUpdate => ({
      address: ['youtube_videos', `v${n}`, { k: n }],
      type: 'Video',
      version: n,
      seq: 100 + n,
      state,
    });

    /** A subscriber recording what it hears; `until(count)` resolves once it has heard `count` updates. */
    const subscriber = () => {
      const heard: ObjectUpdate[] = [];
      const waiting: { count: number; resolve: () => void }[] = [];
      const stop = fanout.subscribe((u) => {
        heard.push(u);
        for (const w of waiting.filter((w) => heard.length >= w.count)) w.resolve();
      });
      const until = (count: number): Promise<void> =>
        heard.length >= count ? Promise.resolve() : new Promise((resolve) => waiting.push({ count, resolve }));
      return { heard, stop, until };
    };

    it('delivers an update unchanged to every subscriber', async () => {
      const a = subscriber();
      const b = subscriber();
      await fanout.publish(update(1));
      await Promise.all([a.until(1), b.until(1)]);
      expect(a.heard).toEqual([update(1)]);
      expect(b.heard).toEqual([update(1)]);
    });

    it('delivers a deletion (state null)', async () => {
      const a = subscriber();
      await fanout.publish(update(2, null));
      await a.until(1);
      expect(a.heard).toEqual([update(2, null)]);
    });

    it('delivers updates in the order they were published', async () => {
      const a = subscriber();
      for (let n = 1; n <= 20; n++) await fanout.publish(update(n));
      await a.until(20);
      expect(a.heard.map((u) => u.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it('publishes with no subscriber at all', async () => {
      await fanout.publish(update(1));
      const late = subscriber();
      await fanout.publish(update(2));
      await late.until(1);
      expect(late.heard.map((u) => u.version)).toEqual([2]); // no replay of what came before subscribing
    });

    it('stops delivering to a subscriber that unsubscribed, and only to it', async () => {
      const gone = subscriber();
      const stays = subscriber();
      await fanout.publish(update(1));
      await Promise.all([gone.until(1), stays.until(1)]);
      gone.stop();
      await fanout.publish(update(2));
      await stays.until(2);
      expect(gone.heard.map((u) => u.version)).toEqual([1]);
      gone.stop(); // unsubscribing twice is harmless
    });

    it('stops delivering to everyone once closed, and closes twice without complaint', async () => {
      const a = subscriber();
      await fanout.publish(update(1));
      await a.until(1);
      await fanout.close();
      // After close there is no later update to wait for: a publish may resolve or refuse, but reach no one.
      await fanout.publish(update(2)).catch(() => undefined);
      expect(a.heard.map((u) => u.version)).toEqual([1]);
      await fanout.close();
    });
  });
}
