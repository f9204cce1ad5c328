import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';

/**
 * @internal The bus channels (Redis sharded pub/sub) of interest-based fan-out. A capability of scope S
 * covers an object at address A when one is a prefix of the other (see `HolderIndex`), so:
 * - a change at A is published on `u:<P>` for every prefix P of A (A included) and on `a:<A>`;
 * - a node with a local holder of S subscribes to `u:<S>` (everything at or under S) and to `a:<P>` for
 *   every strict prefix P of S (the objects S lies under).
 * Every change a holder of S must see is on one of those channels, and nothing else is: no pattern
 * subscriptions, and a node hears only about objects its clients hold.
 */
export function channelsOf(prefix: string, address: readonly JsonValue[]): string[] {
  const channels: string[] = [];
  let key = '';
  for (let i = 0; i < address.length; i++) {
    key += (i === 0 ? '' : ',') + canonicalKey(address[i]!);
    channels.push(`${prefix}u:[${key}]`);
  }
  channels.push(`${prefix}a:[${key}]`);
  return channels;
}

/** The channels a node holding a capability of `scope` listens on (see {@link channelsOf}). */
export function interestOf(prefix: string, scope: readonly JsonValue[]): string[] {
  const channels: string[] = [];
  let key = '';
  for (let i = 0; i < scope.length; i++) {
    key += (i === 0 ? '' : ',') + canonicalKey(scope[i]!);
    channels.push(i === scope.length - 1 ? `${prefix}u:[${key}]` : `${prefix}a:[${key}]`);
  }
  return channels;
}
