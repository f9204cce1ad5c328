import type { Capability } from '../protocol/capability/capability.js';
import type { CodecContext } from '../protocol/codec.js';
import { InboundHandles } from '../protocol/handles.js';
import { announcedLimits } from '../protocol/limits.js';
import { CapsyncError, fail } from '../protocol/errors.js';
import { statusOf } from '../protocol/capability/status.js';
import { FrameType, clientFrameTypes, frameIdOf, peekRequestId, validateFrame, type Frame } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { User } from './auth.js';
import type { Deadline } from './deadlines.js';
import { Holdings, type HeldCapability, type HoldingEvents } from './holdings.js';
import type { SessionEnv, Transport } from './session-env.js';
import type { SharedPush } from './push-slices.js';
import { SessionRequests } from './session-requests.js';
import type { AnonymousIdentity } from './identity.js';
import type { CallMeter } from './fairness.js';

export type { RequestFrame, SessionEnv, Transport } from './session-env.js';

// Set by ServerSession's static block: the codec contexts' way to its private handlers.
let received: (session: ServerSession, cap: Capability) => void;
let heldSent: (session: ServerSession, cap: Capability) => void;
let verifierOf: (session: ServerSession) => CodecContext['verifier'];
let refreshWindowOf: (session: ServerSession) => number;

/**
 * One client connection, above the transport and below the core: decodes and validates frames, answers
 * them, and tracks which capabilities the connection holds (for pushes, revocation and expiry) and when
 * its session token runs out.
 */
export class ServerSession {
  // The id as given (the hub's counter): its string is made when read (log lines, the inspector).
  readonly #id: string | number;
  user: User | null;
  /** Told of each call that goes asynchronous and when it settles (the connection's fair service, server/fairness.ts). */
  meter: CallMeter | undefined;
  /** An anonymous session's identity (what hello tells the client to keep); undefined for a user. */
  #anonymous: AnonymousIdentity | undefined;
  readonly #env: SessionEnv;
  readonly #transport: Transport;
  // Holdings, requests and the inbound context are made when first needed: an idle connection that holds
  // nothing and has sent nothing keeps none of them.
  /** The holdings and the record of what was sent, made at the first capability. */
  #held: SessionHoldingEvents | undefined;
  #inboundMade: InboundContext | undefined;
  /** When the session token expires, and its deadline (its warning, then its end); undefined: it never expires. */
  #token: TokenDeadline | undefined;
  #closed = false;

  static {
    // The codec contexts below reach these two private handlers through module-level functions, so that each
    // context is a small object with prototype getters and methods, not an object literal with four closures.
    received = (session, cap) => session.#received(cap);
    heldSent = (session, cap) => session.#hold(cap, true);
    verifierOf = (session) => session.#env.verifier;
    refreshWindowOf = (session) => session.#env.tokenRefreshWindowMs;
  }

  constructor(env: SessionEnv, transport: Transport, id: string | number, user: User | null, tokenExpiresAt: number | null, anonymous?: AnonymousIdentity) {
    this.#env = env;
    this.#transport = transport;
    this.#id = id;
    this.user = user;
    this.#anonymous = user === null ? anonymous : undefined;
    this.#token = tokenExpiresAt === null ? undefined : new TokenDeadline(this, tokenExpiresAt);
  }

  /** The session's id, as in the logs (`ctx.session.id`). */
  get id(): string {
    return String(this.#id);
  }

  get #holdings(): Holdings {
    return (this.#held ??= new SessionHoldingEvents(this.#env, this)).holdings;
  }

  get #requests(): SessionRequests {
    return (this.#inbound.requests ??= new SessionRequests(this.#env, this));
  }

  get #inbound(): InboundContext {
    return (this.#inboundMade ??= new InboundContext(this, new InboundHandles()));
  }

  /**
   * Who this session is to capabilities: its user's id, or its anonymous identity (a string no user id can
   * be, server/identity.ts). Every capability sent to the session is bound to it, and only capabilities whose
   * audiences all name it are cover here.
   */
  get principal(): string | null {
    return this.user?.id ?? this.#anonymous?.principal ?? null;
  }

  /**
   * An anonymous session becomes the client it was before (a resume presented that identity's proof):
   * capabilities bound to the session's fresh identity are no longer cover, and those that arrived refused
   * for it (the resume's own, bound to handles) are verified again for the adopted one. Returns that
   * re-verification, for the resume's capabilities; undefined for a user's session, which never changes.
   */
  adopt(identity: AnonymousIdentity): ((cap: Capability) => Capability) | undefined {
    if (this.user !== null || this.#anonymous === undefined) return undefined;
    this.#anonymous = identity;
    this.#held?.holdings.rebind(identity.principal);
    const again = new Map<Capability, Capability>();
    const reverify = (cap: Capability): Capability => {
      const status = statusOf(cap);
      if (!(status instanceof CapsyncError) || status.code !== 'ERR_CAPABILITY_AUDIENCE') return cap;
      let fresh = again.get(cap);
      if (fresh === undefined) {
        again.set(cap, (fresh = this.#env.verifier.decode(cap.toToken(), identity.principal)));
        this.#hold(fresh, false);
      }
      return fresh;
    };
    this.#inboundMade?.inboundHandles.remap(reverify);
    return reverify;
  }

  /** Holds a capability verified again after its frame was decoded (a resume that waited for the revocation feed). */
  holdVerified(cap: Capability): void {
    this.#received(cap);
  }

  /** The anonymous identity's proof, as hello and the resume's answer tell the client; undefined for a user. */
  get identityProof(): string | undefined {
    return this.#anonymous?.proof;
  }

  /**
   * True if this session has the capability with revocation id `id`: it was sent it, or holds it (presented it
   * back on a resume). A delegation it has is not delivered to it again.
   */
  has(id: string): boolean {
    const held = this.#held;
    return held !== undefined && (held.holdings.hasId(id) || held.holdings.wasSent(id));
  }

  /** The revocation ids (and expiries) of every capability this session was sent as cover. */
  sentEntries(): { id: string; expiresAt: number | null }[] {
    return this.#held?.holdings.sentEntries() ?? [];
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** When the session's JWT expires (ms since epoch), or null. */
  get tokenExpiresAt(): number | null {
    return this.#token?.expiresAt ?? null;
  }

  /** Number of capabilities held (for tests and metrics). */
  get holdingCount(): number {
    return this.#held?.holdings.size ?? 0;
  }

  /** What this connection holds, read-only (the inspector): scopes and revocation ids, never tokens. */
  heldCapabilities(): HeldCapability[] {
    return this.#held?.holdings.list() ?? [];
  }

  /** Sends the first frame (with the core's `extra` hello fields) and arms the token's deadlines. */
  start(extra: Record<string, unknown> = {}): void {
    this.send([FrameType.hello, {
      protocol: 1,
      user: this.user && { id: this.user.id, roles: this.user.roles },
      maxFrameBytes: this.#env.codec.limits.maxFrameBytes,
      limits: announcedLimits(this.#env.codec.limits),
      tokenExpiresAt: this.tokenExpiresAt,
      ...(this.#anonymous !== undefined ? { identity: this.#anonymous.proof } : {}),
      ...extra,
    }]);
    this.#armToken();
  }

  /** A fresh JWT for the same user: new roles, new expiry, deadlines re-armed. */
  renew(user: User, expiresAt: number | null): void {
    this.user = user;
    this.#env.deadlines.cancel(this.#token);
    this.#token = expiresAt === null ? undefined : new TokenDeadline(this, expiresAt);
    this.#armToken();
  }

  #armToken(): void {
    const token = this.#token;
    if (token === undefined || this.#closed) return;
    this.#env.deadlines.cancel(token);
    this.#env.deadlines.add(token);
  }

  /** @internal The token's deadline fired: its warning (the end is scheduled next, on the same object) or its end. */
  tokenDeadlineFired(deadline: TokenDeadline): void {
    if (deadline !== this.#token || this.#closed) return;
    if (deadline.warning) {
      this.send([FrameType.tokenExpiring, deadline.expiresAt]);
      deadline.warned();
      this.#env.deadlines.add(deadline);
      return;
    }
    this.end(fail('ERR_SESSION_EXPIRED'));
  }

  /** Handles one binary frame from the peer. Never throws: every failure becomes an error frame. */
  receive(bytes: Uint8Array): void {
    if (this.#closed) return;
    let value: unknown;
    let frame: Frame;
    const inbound = this.#inbound;
    inbound.refusal = undefined;
    try {
      value = this.#env.codec.decode(bytes, inbound);
      frame = validateFrame(value, clientFrameTypes);
    } catch (error) {
      // A frame the scan or the decoder refused has no value: its id is read from its first bytes.
      this.#badFrame(frameIdOf(value) ?? peekRequestId(bytes), error);
      return;
    }
    switch (frame[0]) {
      case FrameType.ping:
        this.send([FrameType.pong, frame[1]]);
        return;
      case FrameType.pong:
        return;
      case FrameType.call: {
        // Set by the decode's callbacks, which TypeScript cannot see.
        const refused = inbound.refusal as CapsyncError | undefined;
        if (refused !== undefined) {
          // Refused before the function runs (as Anvil does): server code never sees an unverified capability.
          const refusal = fail(refused.code);
          // A keyed call still goes through its key: a resend of a call that ran (its answer lost, its capability
          // refused now: revoked or expired since) is answered its outcome, not a refusal that says it never ran;
          // and a refusal becomes the key's outcome, so the first attempt, if it reaches a node later, does not
          // run either. Not for a revocation feed behind: this node fails closed at once (its store is usually out
          // of reach too, and the key's lookup would wait for it); the client knows whether it sent the call
          // before, and then answers ERR_CALL_OUTCOME_UNKNOWN (client/requests.ts).
          if (frame[4] !== undefined && refusal.code !== 'ERR_REVOCATION_FEED_STALE') {
            this.#requests.run(frame[1], frame, refusal);
            return;
          }
          this.#env.logFailure(this, 'call', refusal.code, undefined, frame[2]);
          this.sendError(frame[1], refusal);
          return;
        }
        this.#requests.run(frame[1], frame);
        return;
      }
      case FrameType.delegate:
      case FrameType.revoke:
      case FrameType.refresh:
      case FrameType.presence:
      case FrameType.resume:
      case FrameType.grants:
      case FrameType.watch:
        this.#requests.run(frame[1], frame);
    }
  }

  /** A text frame: capsync frames are binary, so it counts as a refused frame like any other. */
  receiveText(): void {
    if (!this.#closed) this.#badFrame(null, fail('ERR_FRAME_MALFORMED', 'frames must be binary'));
  }

  #badFrame(id: number | null, error: unknown): void {
    const err = error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
    this.#env.logFailure(this, 'bad_frame', err.code);
    this.sendError(id, err);
    if (++this.#inbound.badFrames > this.#env.connection.maxBadFrames) this.end(fail('ERR_TOO_MANY_BAD_FRAMES'));
  }

  /** Encodes and sends a frame; capabilities in it are signed and become holdings of this connection. */
  send(frame: unknown[]): void {
    if (this.#closed) return;
    // One outbound context for every session, pointed at this one for the encode (and put back after it:
    // an encode's callbacks may send on another session).
    const before = outbound.session;
    outbound.session = this;
    let bytes: Uint8Array;
    try {
      bytes = this.#env.codec.encode(frame, outbound, { check: true });
    } finally {
      outbound.session = before;
    }
    this.#flushIssued();
    this.sendBytes(bytes);
  }

  /** Sends an error frame with a safe message. */
  sendError(id: number | null, error: CapsyncError): void {
    this.send([FrameType.error, id, error.code, error.message]);
  }

  /** Sends pre-encoded bytes (a push encoded once for all its recipients), enforcing the unsent-bytes bound. */
  sendBytes(bytes: Uint8Array, alone = false, shared?: SharedPush): void {
    if (this.#closed) return;
    if (this.#transport.bufferedAmount + bytes.length > this.#env.connection.maxBufferedBytes) {
      this.end(fail('ERR_SLOW_CONSUMER'));
      return;
    }
    if (shared !== undefined && this.#transport.sendShared !== undefined) this.#transport.sendShared(shared);
    else this.#transport.send(bytes, alone);
  }

  /** True if this connection holds `cap` (or the child of it bound to this session) as cover for pushes (for tests and tools). */
  holds(cap: Capability): boolean {
    const holdings = this.#held?.holdings;
    if (holdings === undefined) return false;
    if (holdings.has(cap)) return true;
    const principal = this.principal;
    const child = principal === null ? undefined : this.#env.verifier.boundChildOf(cap, principal);
    return child !== undefined && holdings.has(child);
  }

  #received(cap: Capability): void {
    const status = statusOf(cap);
    if (status instanceof CapsyncError) this.#inbound.refusal ??= status;
    else this.#hold(cap, false);
  }

  #hold(cap: Capability, outgoing: boolean): void {
    // An outgoing holding is also the record that the session was sent it (what revokeSession revokes).
    const added = this.#holdings.add(cap, this.principal ?? undefined, outgoing);
    if (added === undefined || !outgoing) return;
    const held = this.#held!;
    // A capability bound to the user with its generation needs no record: revokeUser bumps the generation.
    if (this.user && !added.byGeneration) (held.issuedBatch ??= []).push({ id: added.id, expiresAt: added.expiresAt });
  }

  #flushIssued(): void {
    const held = this.#held;
    const batch = held?.issuedBatch;
    if (batch === undefined) return;
    held!.issuedBatch = undefined;
    this.#env.issued(this, batch);
  }

  /** Drops every holding that a revoked id covers, telling the client which capability ended. */
  revoked(ids: ReadonlySet<string>): void {
    this.#held?.holdings.revoked(ids);
  }

  /** Drops every holding whose audience's generation rose (revokeUser); returns how many. */
  revokedGeneration(): number {
    return this.#held?.holdings.stale() ?? 0;
  }

  /** Ends the connection because of `error`, with the error's own close code. */
  end(error: CapsyncError): void {
    this.close(error.closeCode ?? 1011, error.message);
  }

  /** Closes the connection and releases everything it held. */
  close(code = 1000, reason = ''): void {
    if (this.#closed) return;
    this.#transport.close(code, reason);
    this.dispose();
  }

  /** Releases holdings and deadlines after the transport closed (from either side). */
  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#env.deadlines.cancel(this.#token);
    this.#held?.holdings.clear();
    this.#env.closed(this);
  }
}

/**
 * A session token's deadline on the server's heap: its warning (`tokenExpiring`, `warning` true) or its end
 * (4002). One object with a prototype `run`, not two closures and two heap entries per session.
 */
class TokenDeadline implements Deadline {
  index = -1;
  readonly #session: ServerSession;
  readonly expiresAt: number;
  warning = true;

  constructor(session: ServerSession, expiresAt: number) {
    this.#session = session;
    this.expiresAt = expiresAt;
  }

  /** When it fires: the refresh window before the expiry (the warning), then the expiry. Read, not kept: one number fewer. */
  get at(): number {
    return this.warning ? this.expiresAt - refreshWindowOf(this.#session) : this.expiresAt;
  }

  /** The warning went out: next comes the end. */
  warned(): void {
    this.warning = false;
  }

  run(): void {
    this.#session.tokenDeadlineFired(this);
  }
}

/**
 * What the codec is told when it decodes a session's frames. A class, not an object literal with getters and
 * arrow functions: an idle connection then carries one small object per direction instead of one plus four
 * closures and their accessor pairs (the principal is read through getters: an anonymous session's changes
 * once, when a resume re-presents an earlier identity).
 */
class InboundContext implements CodecContext {
  readonly #session: ServerSession;
  readonly inboundHandles: InboundHandles;
  /** The first capability in the frame being decoded that failed verification: a call holding it never runs. */
  refusal: CapsyncError | undefined = undefined;
  /** Refused frames so far (past `maxBadFrames` the connection is closed). */
  badFrames = 0;
  /** The session's requests in flight: made with its first request. */
  requests: SessionRequests | undefined = undefined;

  constructor(session: ServerSession, handles: InboundHandles) {
    this.#session = session;
    this.inboundHandles = handles;
  }

  get verifier(): CodecContext['verifier'] {
    return verifierOf(this.#session);
  }

  get user(): string | null {
    return this.#session.principal;
  }

  onCapability(cap: Capability): void {
    received(this.#session, cap);
  }
}

/**
 * What the codec is told when it encodes a session's frames (see {@link InboundContext}). Encoding is
 * synchronous, so one context serves every session: {@link ServerSession.send} points it at itself for the
 * encode and its callbacks.
 */
class OutboundContext implements CodecContext {
  session: ServerSession | undefined = undefined;

  get verifier(): CodecContext['verifier'] {
    return verifierOf(this.session!);
  }

  get user(): string | null {
    return this.session!.principal;
  }

  get bindTo(): string | undefined {
    return this.session!.principal ?? undefined;
  }

  onCapability(cap: Capability): void {
    heldSent(this.session!, cap);
  }
}

const outbound = new OutboundContext();

/**
 * A session's holdings (with the record of the capabilities it was sent), what they tell it (as prototype
 * methods, not four closures per connection): made with the first capability, so an idle session keeps none of it.
 */
class SessionHoldingEvents implements HoldingEvents {
  readonly #env: SessionEnv;
  readonly #session: ServerSession;
  /** What the session holds, and (the same entries, and what they keep of released ones) what it was sent as cover. */
  readonly holdings: Holdings;
  /** Capabilities sent to the user in the frame being encoded, for the store's record; made at the first. */
  issuedBatch: { id: string; expiresAt: number | null }[] | undefined = undefined;

  constructor(env: SessionEnv, session: ServerSession) {
    this.#env = env;
    this.#session = session;
    this.holdings = new Holdings(env.connection.maxHoldings, env.deadlines, this, env.holdingBudgets);
  }

  held(scope: readonly JsonValue[]): void {
    this.#env.hold(this.#session, scope);
  }

  released(scope: readonly JsonValue[]): void {
    this.#env.release(this.#session, scope);
  }

  ended(id: string, scope: readonly JsonValue[], reason: 'revoked' | 'expired', cause?: string): void {
    this.#session.send(cause === undefined ? [FrameType.revoked, id, scope, reason] : [FrameType.revoked, id, scope, reason, cause]);
  }

  refused(error: CapsyncError): void {
    this.#env.logFailure(this.#session, 'holding_refused', error.code);
    this.#session.sendError(null, error);
  }
}
