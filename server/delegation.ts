import type { Capability } from '../protocol/capability/capability.js';
import { fail, type CapsyncError } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import { addressOf } from '../protocol/portable.js';
import { idsOf, statusOf, type Verification } from '../protocol/capability/status.js';
import { ANY, unwrapCapability } from '../protocol/unwrap.js';
import type { CapabilityVerifier } from '../protocol/verifier.js';
import type { ClusterPeers } from './cluster.js';
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
  /** The other nodes, when there are several: recipients connected elsewhere get the delegation too. */
  readonly cluster?: ClusterPeers;
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

/** Options of a delegation (the `delegate` frame's map). */
export interface DelegateOptions {
  /** Accepted from old clients; changes nothing: every delegation is bound to its recipient unless `bearer`. */
  readonly bind?: boolean;
  /** Deliver an unbound capability: whoever holds its bytes can use it. Default false. */
  readonly bearer?: boolean;
}

/**
 * A holder hands a capability (usually narrowed first) to another connected user. The server verifies the
 * delegator's capability and re-mints it for the recipient: a fresh capability under the root key with the
 * same scope and an expiry no later, bound to the recipient (unless `bearer`), whose block 0 names every
 * revocation id of the delegator's chain and of its ancestors. Revoking the delegator's capability, or
 * anything it was narrowed or delegated from, therefore revokes the delegated one, across any number of
 * hops. It records who gave what to whom (with the delivered token) and delivers it to every connection of
 * the recipient with the live object it grants.
 */
export async function delegate(
  deps: DelegationDeps,
  session: ServerSession,
  to: string,
  cap: Capability,
  options: DelegateOptions,
): Promise<{ revocationId: string; delivered: number }> {
  const from = session.user;
  if (from === null) throw fail('ERR_AUTH_REQUIRED');
  unwrapCapability(cap, cap.scope.map(() => ANY));
  const recipients = deps.directory.ofUser(to);
  const elsewhere = recipients.size === 0 && deps.cluster !== undefined && (await deps.cluster.onlineUsers()).includes(to);
  if ((recipients.size === 0 && !elsewhere) || !deps.presence.visible(from, to)) throw fail('ERR_RECIPIENT_OFFLINE');
  const bearer = options.bearer === true;
  const granted = deps.verifier.mint([...cap.scope], {
    ...(cap.expiresAt !== null ? { expiresAt: cap.expiresAt } : {}),
    ...(bearer ? { bearer } : { audience: to }),
    ancestors: lineageOf(cap),
  });
  const revocationId = granted.revocationId!;
  const object = await deps.live.grantedBy(granted);
  const bound = !bearer;
  await deps.store.recordDelegation({
    from: from.id, to, scope: [...granted.scope], revocationId, bound, at: deps.clock.now(), token: granted.toToken(), expiresAt: granted.expiresAt,
  });
  // The recipient's sessions here now, not those when the call began: one that opened meanwhile (its resume and
  // its node's inbox hand-over read the inbox before the record was written) would get it from no one, since a
  // node ignores its own message between nodes. One that has it already (its resume read the record) is skipped.
  const local = [...deps.directory.ofUser(to)].filter((r) => !r.closed && !r.has(revocationId));
  // Revoked (or expired) while this waited: refused, as it would have been a moment earlier.
  const ended = endedMeanwhile(cap) ?? (await handOver(deps.live, local, from.id, granted, object));
  if (ended !== undefined) throw ended;
  // The recorded delegation is the inbox: a node that misses this message hands it over on the next resume.
  const remote = deps.cluster === undefined ? 0 : await deps.cluster.deliver(to, { from: from.id, token: granted.toToken() });
  deps.logger.info({ event: 'delegated', from: from.id, to, revocationId, bound, local: local.length, remote });
  return { revocationId, delivered: local.length + remote };
}

/**
 * The revocation ids a capability re-minted from `cap` must name: every step of `cap`'s chain and the
 * ancestors `cap` names itself. `cap` was unwrapped from the wire, so it carries its verification.
 */
function lineageOf(cap: Capability): readonly string[] {
  const status = statusOf(cap) as Verification | undefined;
  if (status === undefined || !('tags' in status)) throw fail('ERR_CAPABILITY_NOT_VERIFIED');
  return idsOf(status);
}

/**
 * After a delegation frame carried `object`: the recipients hold the capability from the frame on, so later
 * changes are pushed, but one committed between reading the object and sending the frame reached no one (or
 * came before the frame and lost to its older object). Reads it again and pushes the latest state if newer.
 */
async function pushIfNewer(live: LiveObjects, recipients: Iterable<ServerSession>, object: object | undefined | null): Promise<void> {
  const address = object == null ? undefined : addressOf(object);
  const latest = address === undefined ? undefined : await live.at(address);
  if (latest === undefined || latest.version <= ((object as { version?: number }).version ?? 0)) return;
  const bytes = live.encodePush(latest);
  for (const recipient of recipients) recipient.sendBytes(bytes);
}

/**
 * A delegation another node made to a user with sessions here: verified again for that user from its token
 * (a revoked or expired one is dropped) and delivered as a local one is.
 */
export async function deliverRemote(deps: DelegationDeps, to: string, from: string, token: Uint8Array): Promise<void> {
  const recipients = deps.directory.ofUser(to);
  if (recipients.size === 0) return;
  const cap = await decodeWhenCurrent(deps, token, to);
  if (capabilityError(cap) !== undefined) return;
  const object = await deps.live.grantedBy(cap);
  // The user's sessions here now (one may have opened while this waited), not to one that has it already (from
  // its inbox, after a resume or a missed message).
  const id = cap.revocationId;
  const fresh = [...deps.directory.ofUser(to)].filter((r) => !r.closed && (id === undefined || !r.has(id)));
  await handOver(deps.live, fresh, from, cap, object);
}

/**
 * Hands `userId`'s sessions on this node the recorded delegations (the inbox) each was not sent: what a
 * message between nodes lost while this node was not listening for the user (see `ClusterPeers.onListening`).
 */
export async function deliverMissed(deps: DelegationDeps, userId: string): Promise<void> {
  const recipients = [...deps.directory.ofUser(userId)];
  if (recipients.length === 0) return;
  for (const record of await deps.store.delegations({ to: userId, now: deps.clock.now() })) {
    if (record.token.length === 0) continue;
    const missing = recipients.filter((r) => !r.closed && r.user?.id === userId && !r.has(record.revocationId));
    if (missing.length === 0) continue;
    const cap = await decodeWhenCurrent(deps, record.token, userId);
    if (capabilityError(cap) !== undefined) continue;
    const object = await deps.live.grantedBy(cap);
    const still = missing.filter((r) => !r.closed && !r.has(record.revocationId));
    await handOver(deps.live, still, record.from, cap, object);
  }
}

/**
 * Sends `recipients` the delegation of `cap` from `from` with the live `object` it grants, then that object's
 * latest state if it changed meanwhile: every delivery's last step (a delegation, one relayed from another
 * node, an inbox hand-over, a resume's grants). Not when the capability stopped working while the delivery
 * waited: then nothing is sent, and the reason is returned ({@link endedMeanwhile}).
 */
export async function handOver(live: LiveObjects, recipients: readonly ServerSession[], from: string, cap: Capability, object: object | undefined | null): Promise<CapsyncError | undefined> {
  const ended = endedMeanwhile(cap);
  if (ended !== undefined) return ended;
  for (const recipient of recipients) recipient.send([FrameType.delegation, { from, cap, object: object ?? null }]);
  await pushIfNewer(live, recipients, object);
  return undefined;
}

/**
 * Why a delegated capability about to be sent stopped working while its delivery waited (revoked or expired
 * here meanwhile), or undefined. Sent anyway, it would be held by no session (a capability no longer valid is
 * no cover), so no revocation notice would ever follow: the recipient would keep its live object, silently
 * getting nothing. Checked synchronously before the frame goes out. A feed behind is no reason: the
 * holding is kept meanwhile, and the catch-up ends it if the capability was revoked.
 */
function endedMeanwhile(cap: Capability): CapsyncError | undefined {
  const error = capabilityError(cap);
  return error === undefined || error.code === 'ERR_REVOCATION_FEED_STALE' ? undefined : error;
}

/** How long a delivery waits for a revocation feed that is behind before giving up (the next resume delivers it). */
const DELIVERY_FEED_WAIT_MS = 2_000;

/**
 * Decodes a delegated token for `userId`; while this node's revocation feed is behind (several nodes on
 * Redis) its right is unknown rather than refused, so it waits (bounded) for the feed and decodes again.
 * Dropping it at once lost the delegation until the recipient's next resume.
 */
async function decodeWhenCurrent(deps: DelegationDeps, token: Uint8Array, userId: string): Promise<Capability> {
  const cap = deps.verifier.decode(token, userId);
  const revocations = deps.store.revocations;
  if (capabilityError(cap)?.code !== 'ERR_REVOCATION_FEED_STALE' || revocations.current === undefined) return cap;
  if (!(await revocations.current(DELIVERY_FEED_WAIT_MS))) {
    deps.logger.warn({ event: 'delegation_deferred', to: userId, reason: 'revocation feed behind; delivered at the next resume' });
    return cap;
  }
  return deps.verifier.decode(token, userId);
}
