import { Capability } from '../protocol/capability/capability.js';
import { CapsyncError, fail } from '../protocol/errors.js';
import { assertJsonValue, canonicalKey, type JsonValue } from '../protocol/json-value.js';
import { ANY, scopesOverlap, unwrapCapability } from '../protocol/unwrap.js';
import type { ObjectUpdate } from './fanout.js';
import type { LiveObjects } from './live.js';

/** What a client re-presents on a new connection (the `resume` frame's map, decoded and verified). */
export interface ResumeRequest {
  readonly caps: readonly Capability[];
  /** `[address, version]` pairs; addresses are checked to be JSON here (the frame's shape allows any list). */
  readonly seen: readonly (readonly [unknown[], number])[];
  readonly epoch: string | null;
  readonly seq: number;
  /** An anonymous client's identity proof (from its first hello), adopted before the capabilities count. */
  readonly identity?: string;
}

/** The answer, sent after every push it caused: the client is caught up once it arrives. */
export interface ResumeAnswer {
  /** The store's identity and the change sequence number the client has now seen everything up to. */
  readonly epoch: string;
  readonly seq: number;
  /** `[index in caps, code]` of every capability that no longer works (revoked, expired, another user's, ...). */
  readonly refused: [number, string][];
  /** How many object states (and deletions) were sent. */
  readonly sent: number;
  /** True when the client got a full snapshot of what its capabilities cover instead of the changes since `seq`. */
  readonly snapshot: boolean;
}

/** Bounds of one resume. */
export interface ResumeLimits {
  /** Changes read from the store per page. */
  readonly pageSize: number;
  /** Past this many changes since the client's `seq`, a snapshot of what it covers is cheaper: send that. */
  readonly snapshotAfter: number;
  /** Most objects one capability's snapshot may list. */
  readonly maxSnapshotObjects: number;
}

export const defaultResumeLimits: ResumeLimits = Object.freeze({ pageSize: 1000, snapshotAfter: 50_000, maxSnapshotObjects: 10_000 });

/** Why a capability does not work now, or undefined if it does. */
export function capabilityError(cap: unknown): CapsyncError | undefined {
  if (!(cap instanceof Capability)) return fail('ERR_CAPABILITY_NOT_VERIFIED');
  try {
    unwrapCapability(cap, cap.scope.map(() => ANY));
    return undefined;
  } catch (error) {
    return error instanceof CapsyncError ? error : undefined;
  }
}

/**
 * Brings a client that was away up to date in one round trip. Its capabilities were verified when the
 * frame was decoded, and the valid ones already hold (so any change from now on is pushed live); this
 * sends what changed before: the store's changes since the client's `seq` that its capabilities cover,
 * or, when the store is another one (epoch), the tombstones it may have missed were pruned (horizon), or
 * the changes are too many, every object its capabilities cover and a deletion for every object it has
 * that is gone. Unchanged objects are not sent. Intermediate versions of one object are coalesced.
 */
export async function resumeSession(
  live: LiveObjects,
  request: ResumeRequest,
  send: (update: ObjectUpdate) => void,
  limits: ResumeLimits = defaultResumeLimits,
): Promise<ResumeAnswer> {
  for (const [address] of request.seen) assertJsonValue(address);
  const refused: [number, string][] = [];
  const scopes: (readonly JsonValue[])[] = [];
  request.caps.forEach((cap, i) => {
    const error = capabilityError(cap);
    if (error === undefined) scopes.push(cap.scope);
    else refused.push([i, error.code]);
  });
  // Read after the holdings exist: a change with a later seq is pushed live, an earlier one is found below.
  const [epoch, seq, horizon] = await Promise.all([live.epoch(), live.seq(), live.horizon()]);
  const covered = (address: readonly JsonValue[]): boolean => scopes.some((s) => scopesOverlap(s, address));
  const sentKeys = new Set<string>();
  const sendOnce = (update: ObjectUpdate): void => {
    const key = canonicalKey(update.address);
    if (sentKeys.has(key)) return;
    sentKeys.add(key);
    send(update);
  };
  const snapshot = request.epoch !== epoch || request.seq < horizon || seq - request.seq > limits.snapshotAfter;
  if (!snapshot) {
    for (let since = request.seq; since < seq; ) {
      const page = await live.changesSince(since, limits.pageSize, covered);
      for (const change of page.changes) sendOnce(change);
      if (page.read < limits.pageSize) break;
      since = page.last;
    }
  } else {
    for (const scope of scopes) {
      // A scope covers the objects at its own prefixes (a video's "update" capability covers the video) and under it.
      for (let n = 1; n < scope.length; n++) {
        const object = await live.at(scope.slice(0, n));
        if (object !== undefined) sendOnce(object);
      }
      for (const object of await live.under(scope, limits.maxSnapshotObjects)) sendOnce(object);
    }
    // What the client has that no longer exists: a deletion, one version past what it saw.
    for (const [address, version] of request.seen) {
      const json = address as JsonValue[];
      if (covered(json) && !sentKeys.has(canonicalKey(json))) sendOnce({ address: json, type: '', version: version + 1, state: null, seq });
    }
  }
  return { epoch, seq, refused, sent: sentKeys.size, snapshot };
}
