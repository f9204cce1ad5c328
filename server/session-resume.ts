import type { Capability } from '../protocol/capability/capability.js';
import { CloseCode } from '../protocol/errors.js';
import type { RevocationSet } from '../protocol/revocation.js';
import type { CapabilityVerifier } from '../protocol/verifier.js';
import { grantsFor, handOver, type DelegationDeps } from './delegation.js';
import type { AnonymousIdentities } from './identity.js';
import type { LiveObjects } from './live.js';
import { capabilityError, resumeSession, type ResumeRequest } from './resume.js';
import type { ServerSession } from './session.js';

/**
 * How long a resume waits for a revocation feed that is behind before the connection is closed with 1013 (try
 * again later): shorter than a client's resume timeout, long enough for a feed's usual catch-up.
 */
const RESUME_FEED_WAIT_MS = 2000;

/** What a resume needs of the hub. */
export interface ResumeDeps {
  readonly live: LiveObjects;
  readonly revocations: RevocationSet;
  readonly verifier: CapabilityVerifier;
  readonly identities: AnonymousIdentities;
  readonly delegation: DelegationDeps;
}

/**
 * The `resume` request of a reconnected client (server/resume.ts computes what changed): an anonymous client's
 * identity adopted, capabilities refused only because this node's revocation feed is behind verified again
 * once it is current, then the changes and the delegations made meanwhile.
 */
export class SessionResumes {
  readonly #deps: ResumeDeps;

  constructor(deps: ResumeDeps) {
    this.#deps = deps;
  }

  /** The `resume` request: the client's state brought up to date, its delegations delivered again (SPEC section 6). */
  async resume(session: ServerSession, presented: ResumeRequest): Promise<unknown> {
    // Synchronously, before any frame after this one is decoded: a keyed call re-sent next is this client's too.
    const request = await this.#whenCurrent(session, this.#adoptIdentity(session, presented));
    if (request === undefined) return undefined;
    const answer = await resumeSession(this.#deps.live, request, (update) => session.sendBytes(this.#deps.live.encodePush(update)));
    if (session.user !== null) {
      // Delegations made to this user while it was away (or that it no longer has): delivered again.
      const held = new Set(request.caps.map((cap) => cap.revocationId).filter((id): id is string => id !== undefined));
      for (const grant of await grantsFor(this.#deps.delegation, session, held)) {
        // Not one the session was handed meanwhile (a node that listens for the user again hands its inbox over).
        const id = grant.cap.revocationId;
        if (id !== undefined && session.has(id)) continue;
        // Not one revoked meanwhile (the grants were read, and their objects, before this): handOver skips it.
        await handOver(this.#deps.live, [session], grant.from, grant.cap, grant.object as object | null);
      }
    }
    const identity = session.identityProof;
    return identity === undefined ? answer : { ...answer, identity };
  }

  /**
   * Capabilities a resume presented while this node's revocation feed was behind came back refused
   * (`ERR_REVOCATION_FEED_STALE`). Answered so, the client would drop them and their live objects for good, though
   * the right is unknown, not gone. The resume waits (bounded) for the feed and verifies them again; a feed still
   * behind closes the connection with 1013, and the client resumes again after its backoff, perhaps on another node.
   */
  async #whenCurrent(session: ServerSession, request: ResumeRequest): Promise<ResumeRequest | undefined> {
    const stale = (cap: Capability): boolean => capabilityError(cap)?.code === 'ERR_REVOCATION_FEED_STALE';
    const revocations = this.#deps.revocations;
    if (revocations.current === undefined || !request.caps.some(stale)) return request;
    if (await revocations.current(RESUME_FEED_WAIT_MS)) {
      const caps = request.caps.map((cap) => {
        if (!stale(cap)) return cap;
        const again = this.#deps.verifier.decode(cap.toToken(), session.principal);
        session.holdVerified(again);
        return again;
      });
      if (!caps.some(stale)) return { ...request, caps };
    }
    session.close(CloseCode.tryAgainLater, 'revocation feed behind; resume again');
    return undefined;
  }

  /**
   * An anonymous client re-presented its identity: the session becomes it, and the capabilities the frame
   * carried, refused for the session's fresh identity, are verified again for the adopted one (and held).
   * A proof this server did not make is ignored: the client keeps the fresh identity hello gave it.
   */
  #adoptIdentity(session: ServerSession, request: ResumeRequest): ResumeRequest {
    if (request.identity === undefined || session.user !== null) return request;
    const principal = this.#deps.identities.verify(request.identity);
    const reverify = principal === undefined ? undefined : session.adopt({ principal, proof: request.identity });
    return reverify === undefined ? request : { ...request, caps: request.caps.map(reverify) };
  }
}
