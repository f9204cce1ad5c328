import type { ObjectStore } from '../server/store/types.js';

/**
 * The same store with its optional atomic `update` hidden: what a store across the network offers, so
 * `LiveObjects.update` falls back to a read and a conditional put, retried on conflict. Used by
 * `bench:update` and by the conflict-safe update tests.
 */
export function withoutUpdate(store: ObjectStore): ObjectStore {
  return new Proxy(store, {
    get: (target, key) => {
      if (key === 'update') return undefined;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
