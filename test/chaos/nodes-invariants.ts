import type { Video } from '../../examples/video/video.js';
import type { NodesRun } from './nodes-run.js';
import type { Settled } from './session-kit.js';
import { uncertainCodes } from './sessions.js';

/**
 * The delegation and revocation invariants of a many-node run (beside session-invariants.ts, which checks the
 * guest's pushes and `live()` ends against each grant's revoke):
 * - a delegation answered ok reached the guest exactly once, with the answered revocation id, unless it was
 *   revoked (then at most once); one refused with a definite code never reached it; one with an unknown
 *   outcome at most once;
 * - nothing received is wider than what was delegated: the same scope and expiry, bound to the guest only; a
 *   delegation frame matching no grant is a violation;
 * - the guest could use what it received: its edits sent before the grant's revoke was sent never failed
 *   definitely, except with an `excused` code (a refusal saying nothing ran);
 * - once a revoke was answered, no guest edit sent after it took effect on any node: none succeeded (checked
 *   there), and the store's final state is none of theirs.
 */
export async function delegationViolations(run: NodesRun, store: Map<string, Video>, excused: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const stray of run.strayDelegations) found.push(`guest received a delegation matching no grant: ${stray}`);
  const outcomes = new Map(await Promise.all(run.edits.map(async (e) => [e, await e.outcome] as const)));
  for (const [id, trace] of run.delegations) {
    const grant = run.grants.get(id)!;
    const delegated = grant.delegated as Settled<{ revocationId: string }>;
    const got = trace.received;
    const revoked = trace.revokeSentAt !== null;
    const what = `grant of ${id} by ${trace.from} (delegate ${delegated.ok ? 'ok' : delegated.code}${revoked ? `, revoke ${trace.revokeOutcome ?? 'pending'}` : ''})`;
    if (delegated.ok) {
      if (got.length > 1 || (got.length === 0 && !revoked)) found.push(`${what}: received ${got.length} times`);
      for (const r of got) if (r.revocationId !== delegated.value.revocationId) found.push(`${what}: received ${r.revocationId}, answered ${delegated.value.revocationId}`);
    } else if (uncertainCodes.includes(delegated.code)) {
      if (got.length > 1) found.push(`${what}: received ${got.length} times`);
    } else if (got.length > 0) {
      found.push(`${what}: refused, yet received ${got.length} times`);
    }
    for (const r of got) {
      if (JSON.stringify(r.scope) !== JSON.stringify(trace.scope) || r.audiences.length !== 1 || r.audiences[0] !== 'guest') {
        found.push(`${what}: received ${r.description}, delegated scope ${JSON.stringify(trace.scope)} bound to guest`);
      }
    }
    for (const edit of run.edits) {
      if (edit.user !== 'guest' || edit.video !== id) continue;
      const outcome = outcomes.get(edit)!;
      const beforeRevoke = trace.revokeSentAt === null || edit.sentAt < trace.revokeSentAt;
      if (beforeRevoke && !outcome.ok && !uncertainCodes.includes(outcome.code) && !excused.includes(outcome.code)) {
        found.push(`guest's edit ${edit.token} of ${id} through its grant (not revoked then) failed with ${outcome.code}`);
      }
      if (grant.revokedAt !== null && edit.sentAt > grant.revokedAt && store.get(id)?.description === edit.token) {
        found.push(`guest's edit ${edit.token} of ${id}, sent after the revoke was answered, is the store's state (v${store.get(id)!.version})`);
      }
    }
  }
  return found;
}
