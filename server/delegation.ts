import type { Capability } from '../protocol/capability/capability.js';
import { fail } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import { addressOf } from '../protocol/portable.js';
import { ANY, unwrapCapability } from '../protocol/unwrap.js';
import type { CapabilityVerifier } from '../protocol/verifier.js';
import type { SessionDirectory } from './directory.js';
import type { LiveObjects } from './live.js';
import type { Clock, Logger } from './options.js';
import type { Presence } from './presence.js';
import { capabilityError } from './resume.js';
import type { ServerSession } from './session.js';
import type { ObjectStore } from './store/types.js';

/** What a delegation needs from the rest of the core. */
export interface DelegationDeps {
  readonly directory: SessionDirectory<ServerSession>;
  readonly presence: Presence;
  readonly live: LiveObjects;
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly verifier: CapabilityVerifier;
}

/** A capability delegated to the caller that still works, as `grants` lists it. */
export interface Grant {
  readonly from: string;
  readonly cap: Capability;
  /** The live object it grants, or null. */
  readonly object: unknown;
  readonly at: number;
}

/**
 * Every still-working capability delegated to this session's user (newest last), re-verified from the
 * recorded token: a revoked or expired one is left out. A reload or a second device gets its grants back.
 */
export async function grantsFor(deps: DelegationDeps, session: ServerSession, except: ReadonlySet<string> = new Set()): Promise<Grant[]> {
  const user = session.user;
  if (user === null) throw fail('ERR_AUTH_REQUIRED');
  const now = deps.clock.now();
  const grants: Grant[] = [];
  for (const record of await deps.store.delegations({ to: user.id, now })) {
    // Records from before tokens were kept have none: nothing to hand back.
    if (except.has(record.revocationId) || record.token.length === 0) continue;
    const cap = deps.verifier.decode(record.token, user.id);
    if (capabilityError(cap) !== undefined) continue;
    grants.push({ from: record.from, cap, object: (await deps.live.grantedBy(cap)) ?? null, at: record.at });
  }
  return grants;
}

/**
 * A holder hands a capability (usually narrowed first) to another connected user: the server checks it
 * still works, records who gave what to whom, and delivers it to every connection of the recipient with
 * the live object it grants.
 */
export async function delegate(
  deps: DelegationDeps,
  session: ServerSession,
  to: string,
  cap: Capability,
  options: { bind?: boolean },
): Promise<{ revocationId: string; delivered: number }> {
  const from = session.user;
  if (from === null) throw fail('ERR_AUTH_REQUIRED');
  unwrapCapability(cap, cap.scope.map(() => ANY));
  const recipients = deps.directory.ofUser(to);
  if (recipients.size === 0 || !deps.presence.visible(from, to)) throw fail('ERR_RECIPIENT_OFFLINE');
  const granted = options.bind ? cap.narrow([], { audience: to }) : cap;
  // A capability bound to another user would only fail in the recipient's hands: refuse it here.
  if (granted.audiences.some((a) => a !== to)) throw fail('ERR_CAPABILITY_AUDIENCE');
  const revocationId = granted.revocationId!;
  const object = await deps.live.grantedBy(granted);
  const bound = options.bind === true;
  await deps.store.recordDelegation({
    from: from.id, to, scope: [...granted.scope], revocationId, bound, at: deps.clock.now(), token: granted.toToken(), expiresAt: granted.expiresAt,
  });
  for (const recipient of recipients) recipient.send([FrameType.delegation, { from: from.id, cap: granted, object: object ?? null }]);
  // The recipients hold the capability from the frame on, so later changes are pushed; one committed
  // between the read and the frame reached no one (or came before the frame and lost to its older object):
  // read again now and push the latest state if it is newer.
  const address = object === undefined ? undefined : addressOf(object);
  const latest = address === undefined ? undefined : await deps.live.at(address);
  if (latest !== undefined && latest.version > ((object as { version?: number }).version ?? 0)) {
    const bytes = deps.live.encodePush(latest);
    for (const recipient of recipients) recipient.sendBytes(bytes);
  }
  deps.logger.info({ event: 'delegated', from: from.id, to, revocationId, bound });
  return { revocationId, delivered: recipients.size };
}
