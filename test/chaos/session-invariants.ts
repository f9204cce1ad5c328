import type { Video } from '../../examples/video/video.js';
import type { Settled } from './session-kit.js';
import { uncertainCodes, type EditRecord, type GrantRecord, type Member, type User } from './sessions.js';

/**
 * What the invariants read of a run: a single-server `SessionRun` (sessions.ts) or a run over several
 * nodes (nodes-run.ts). A run without a guest member checks nothing about grants.
 */
export interface RunView {
  readonly edits: readonly EditRecord[];
  readonly grants: ReadonlyMap<string, GrantRecord>;
  /** The videos every non-guest member holds, and their versions at the start. */
  readonly ids: readonly string[];
  readonly initialVersions: ReadonlyMap<string, number>;
  readonly members: ReadonlyMap<User, Member>;
  /** Resolves once `check()` holds, re-checked at every change and state change of `user`'s client. */
  until(user: User, check: () => boolean, what: string, limitMs?: number): Promise<unknown>;
}

/** When a grant stopped working (its revoke answered, or its expiry), or null while it works. */
export function endOf(grant: GrantRecord, now = Date.now()): number | null {
  const ends = [grant.revokedAt, grant.expiresAt !== null && grant.expiresAt <= now ? grant.expiresAt : null].filter((t): t is number => t !== null);
  return ends.length === 0 ? null : Math.min(...ends);
}

/** The code the guest's `live()` must end with once `grant` stopped working. */
function endCode(grant: GrantRecord): string {
  return grant.revokedAt !== null && (grant.expiresAt === null || grant.revokedAt < grant.expiresAt) ? 'ERR_CAPABILITY_REVOKED' : 'ERR_CAPABILITY_EXPIRED';
}

/** A grant the guest holds for sure at the end: delegated, not revoked (or maybe revoked), not expired. */
function live(grant: GrantRecord): boolean {
  return grant.delegated.ok && endOf(grant) === null && !grant.revokeUncertain;
}

/** The videos `user`'s client must end up holding, at the store's state. */
function expected(run: RunView, user: User): readonly string[] {
  if (user !== 'guest') return run.ids;
  return [...run.grants.values()].filter(live).map((g) => g.video);
}

/** Where `user`'s copies differ from the store (empty once converged). */
export function divergence(run: RunView, user: User, store: Map<string, Video>): string[] {
  const member = run.members.get(user)!;
  const diffs: string[] = [];
  for (const id of expected(run, user)) {
    const mine = member.videos.get(id);
    const truth = store.get(id)!;
    if (mine === undefined) diffs.push(`${user} never got ${id}`);
    else if (mine.version !== truth.version || mine.description !== truth.description) {
      diffs.push(`${user} has ${id} v${mine.version} "${mine.description}", the store v${truth.version} "${truth.description}"`);
    }
  }
  return diffs;
}

/**
 * Waits, on each client's own events, until it has converged (a bounded guard per client), and until the
 * guest's `live()` of every grant that stopped working has ended; returns what never happened.
 */
export async function converge(run: RunView, store: Map<string, Video>): Promise<string[]> {
  const missing: string[] = [];
  const guest = run.members.get('guest');
  const waits = [...run.members.keys()].map((user) =>
    run.until(user, () => divergence(run, user, store).length === 0, 'converged').catch(() => missing.push(...divergence(run, user, store))),
  );
  for (const grant of run.grants.values()) {
    const ends = grant.revokedAt !== null || grant.expiresAt !== null;
    if (!ends || guest === undefined || !guest.videos.has(grant.video) || grant.revokeUncertain) continue;
    const ended = guest.ended;
    waits.push(run.until('guest', () => ended.has(grant.video), `live(${grant.video}) ended`).catch(() => missing.push(`guest's live(${grant.video}) never ended`)));
  }
  await Promise.all(waits);
  return missing;
}

/**
 * The run's invariants, once settled and converged, against the store's videos:
 * - (a) see {@link converge};
 * - (b) the guest got no push for a video never delegated to it, and none for a change made after its grant
 *   stopped working (a version at or past the first edit sent after the revoke's answer or the expiry); an
 *   edit of the guest sent after that failed; its `live()` ended with the matching code;
 * - (c) per video, the store's version climbed by exactly as many effects as: at least the successful edits,
 *   at most those plus the ones whose outcome is unknown (`ERR_CALL_OUTCOME_UNKNOWN`, timeout); no token was
 *   ever seen at two versions (twice run), no definitely failed edit's token was ever pushed, successful
 *   edits answered distinct versions in range, and the final description is that of the edit the final
 *   version answered; an editor's edit never failed definitely, except with one of the `excused` codes (a
 *   refusal that says nothing ran, such as a node failing closed), and then it must not have taken effect.
 */
export async function violations(run: RunView, store: Map<string, Video>, excused: readonly string[] = []): Promise<string[]> {
  const found: string[] = [];
  const outcomes = new Map<EditRecord, Settled<number>>();
  for (const edit of run.edits) outcomes.set(edit, await edit.outcome);
  // Every version at which any client saw each token (pushes, and answers).
  const seen = new Map<string, Set<number>>();
  const see = (token: unknown, version: number): void => {
    if (typeof token === 'string') (seen.get(token) ?? seen.set(token, new Set()).get(token)!).add(version);
  };
  for (const member of run.members.values()) for (const p of member.log.pushes) see(p.state?.['description'], p.version);
  for (const [edit, outcome] of outcomes) if (outcome.ok) see(edit.token, outcome.value);

  for (const id of run.ids) {
    const truth = store.get(id)!;
    const initial = run.initialVersions.get(id)!;
    const edits = run.edits.filter((e) => e.video === id);
    const succeeded = edits.filter((e) => outcomes.get(e)!.ok);
    const unknown = edits.filter((e) => { const o = outcomes.get(e)!; return !o.ok && uncertainCodes.includes(o.code); });
    const effects = truth.version! - initial;
    if (effects < succeeded.length || effects > succeeded.length + unknown.length) {
      found.push(`${id}: ${effects} effects for ${succeeded.length} successful and ${unknown.length} unknown edits`);
    }
    const answered = succeeded.map((e) => (outcomes.get(e) as { value: number }).value);
    if (new Set(answered).size !== answered.length) found.push(`${id}: two successful edits answered the same version (${answered.join(', ')})`);
    for (const v of answered) if (v <= initial || v > truth.version!) found.push(`${id}: an edit answered v${v}, outside (${initial}, ${truth.version}]`);
    const last = succeeded.find((e) => (outcomes.get(e) as { value: number }).value === truth.version);
    if (last !== undefined && truth.description !== last.token) found.push(`${id}: v${truth.version} is "${truth.description}", its edit wrote "${last.token}"`);
    for (const edit of edits) {
      const outcome = outcomes.get(edit)!;
      const versions = seen.get(edit.token);
      if (versions !== undefined && versions.size > 1) found.push(`${edit.token} (${edit.user} on ${id}) took effect at versions ${[...versions].join(', ')}`);
      if (!outcome.ok && !uncertainCodes.includes(outcome.code)) {
        if (versions !== undefined) found.push(`${edit.token} (${edit.user}) failed with ${outcome.code} but was pushed at v${[...versions].join(', ')}`);
        if (edit.user !== 'guest' && !excused.includes(outcome.code)) found.push(`${edit.user}'s edit ${edit.token} of ${id} failed with ${outcome.code}`);
      }
    }
  }

  const guest = run.members.get('guest');
  if (guest === undefined) return found;
  for (const push of guest.log.pushes) {
    const id = push.address[1] as string;
    if (!run.grants.has(id)) found.push(`guest got a push for ${id}, never delegated to it (v${push.version})`);
  }
  for (const grant of run.grants.values()) {
    const end = endOf(grant);
    if (end === null || grant.revokeUncertain) continue;
    const after = run.edits.filter((e) => e.video === grant.video && e.sentAt > end);
    for (const edit of after) {
      if (edit.user === 'guest' && outcomes.get(edit)!.ok) found.push(`guest's edit ${edit.token} sent after its grant of ${grant.video} ended succeeded`);
    }
    const versions = after.map((e) => outcomes.get(e)!).filter((o) => o.ok).map((o) => (o as { value: number }).value);
    if (versions.length > 0) {
      const first = Math.min(...versions);
      for (const push of guest.log.of(grant.video)) {
        if (push.version >= first) found.push(`guest got ${grant.video} v${push.version} (${push.during}), changed after its grant ended (from v${first})`);
      }
    }
    const ended = guest.ended.get(grant.video);
    if (guest.videos.has(grant.video) && ended !== endCode(grant)) found.push(`guest's live(${grant.video}) ended ${ended ?? 'never'}, expected ${endCode(grant)}`);
  }
  return found;
}
