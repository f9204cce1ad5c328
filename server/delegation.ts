import type { Capability } from '../protocol/capability/capability.js';
import { fail } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import { ANY, unwrapCapability } from '../protocol/unwrap.js';
import type { SessionDirectory } from './directory.js';
import type { LiveObjects } from './live.js';
import type { Clock, Logger } from './options.js';
import type { Presence } from './presence.js';
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
  deps.logger.info({ event: 'delegated', from: from.id, to, revocationId, bound });
  return { revocationId, delivered: recipients.size };
}
