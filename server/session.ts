import { Capability } from '../protocol/capability/capability.js';
import { tagKey } from '../protocol/capability/chain.js';
import { assertStillValid, idsOf, revocationId, statusOf, type Verification } from '../protocol/capability/status.js';
import type { Codec, CodecContext } from '../protocol/codec.js';
import { InboundHandles } from '../protocol/handles.js';
import { CapsyncError, CloseCode, fail } from '../protocol/errors.js';
import { FrameType, clientFrameTypes, frameIdOf, validateFrame, type Frame } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { CapabilityVerifier } from '../protocol/verifier.js';
import type { User } from './auth.js';

/** What a session needs from its socket: send bytes, close, and how many bytes are still unsent. */
export interface ServerTransport {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
  readonly bufferedAmount: number;
}

/** A capability this connection holds: it receives pushes for every object the scope covers. */
interface Holding {
  readonly cap: Capability;
  readonly verification: Verification;
  timer?: ReturnType<typeof setTimeout>;
}

/** What the server gives each session. Keeps the session testable with a scripted transport and no socket. */
export interface SessionHost {
  readonly codec: Codec;
  readonly verifier: CapabilityVerifier;
  readonly maxBufferedBytes: number;
  readonly maxBadFrames: number;
  readonly maxInFlight: number;
  /** Capabilities one connection holds at most; past it the oldest holding is released (no more pushes through it). */
  readonly maxHoldings: number;
  /** Runs a server function: its value, or a promise of it. */
  call(session: ServerSession, name: string, args: unknown[]): unknown;
  delegate(session: ServerSession, to: string, cap: Capability, options: { bind?: boolean }): Promise<unknown>;
  /** A holder revokes `cap` (and everything narrowed from it). */
  revokeFor(session: ServerSession, cap: Capability): Promise<unknown>;
  refresh(session: ServerSession, jwt: string): Promise<unknown>;
  presence(session: ServerSession): Promise<unknown>;
  hold(session: ServerSession, scope: readonly JsonValue[]): void;
  release(session: ServerSession, scope: readonly JsonValue[]): void;
  issued(session: ServerSession, entries: { id: string; expiresAt: number | null }[]): void;
  closed(session: ServerSession): void;
  logFailure(session: ServerSession, event: string, code: string, detail?: unknown): void;
}

let nextSessionId = 1;

/**
 * One client connection, above the transport and below the server: decodes and validates frames,
 * dispatches them, and tracks which capabilities the connection holds (for pushes, revocation, expiry).
 */
export class ServerSession {
  readonly id = nextSessionId++;
  user: User | null;
  tokenExpiresAt: number | null;
  readonly #host: SessionHost;
  readonly #transport: ServerTransport;
  readonly #holdings = new Map<string, Holding>();
  /**
   * Capability objects known to be held here, so that one sent with every call (the verifier's cache hands
   * back the same object for the same token) skips rebuilding its key. Emptied whenever a holding is
   * released: membership always means the holding is still there.
   */
  #held = new WeakSet<Capability>();
  readonly #inbound: CodecContext;
  readonly #outbound: CodecContext;
  #issuedBatch: { id: string; expiresAt: number | null }[] = [];
  #badFrames = 0;
  #inFlight = 0;
  #closed = false;

  constructor(host: SessionHost, transport: ServerTransport, user: User | null, tokenExpiresAt: number | null) {
    this.#host = host;
    this.#transport = transport;
    this.user = user;
    this.tokenExpiresAt = tokenExpiresAt;
    const verifier = host.verifier;
    const userId = user?.id ?? null;
    this.#inbound = { verifier, user: userId, inboundHandles: new InboundHandles(), onCapability: (cap) => this.#hold(cap, false) };
    this.#outbound = { verifier, user: userId, onCapability: (cap) => this.#hold(cap, true) };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Number of capabilities held (for tests and metrics). */
  get holdingCount(): number {
    return this.#holdings.size;
  }

  /** Sends the first frame. */
  hello(maxFrameBytes: number): void {
    this.send([FrameType.hello, {
      protocol: 1,
      user: this.user && { id: this.user.id, roles: this.user.roles },
      maxFrameBytes,
      tokenExpiresAt: this.tokenExpiresAt,
    }]);
  }

  /** Handles one frame from the peer. Never throws: every failure becomes an error frame. */
  receive(bytes: Uint8Array): void {
    if (this.#closed) return;
    let value: unknown;
    let frame: Frame;
    try {
      value = this.#host.codec.decode(bytes, this.#inbound);
      frame = validateFrame(value, clientFrameTypes);
    } catch (error) {
      this.#badFrame(frameIdOf(value), error);
      return;
    }
    switch (frame[0]) {
      case FrameType.call:
        this.#run(frame[1], 'call', () => this.#host.call(this, frame[2], frame[3]));
        return;
      case FrameType.delegate:
        this.#run(frame[1], 'delegate', () => this.#host.delegate(this, frame[2], frame[3], frame[4]));
        return;
      case FrameType.revoke:
        this.#run(frame[1], 'revoke', () => this.#host.revokeFor(this, frame[2]));
        return;
      case FrameType.refresh:
        this.#run(frame[1], 'refresh', () => this.#host.refresh(this, frame[2]));
        return;
      case FrameType.presence:
        this.#run(frame[1], 'presence', () => this.#host.presence(this));
        return;
      case FrameType.ping:
        this.send([FrameType.pong, frame[1]]);
        return;
      case FrameType.pong:
        return;
    }
  }

  #badFrame(id: number | null, error: unknown): void {
    const err = error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
    this.#host.logFailure(this, 'bad_frame', err.code);
    this.sendError(id, err);
    if (++this.#badFrames > this.#host.maxBadFrames) this.close(CloseCode.tooManyBadFrames, 'too many bad frames');
  }

  #run(id: number, event: string, work: () => unknown): void {
    if (this.#inFlight >= this.#host.maxInFlight) {
      this.sendError(id, fail('ERR_RATE_LIMITED'));
      return;
    }
    let result: unknown;
    try {
      result = work();
    } catch (error) {
      this.#failed(id, event, error);
      return;
    }
    // A function that answers synchronously is answered in the same turn: no promise, no microtask.
    if (!isThenable(result)) {
      this.#answer(id, event, result);
      return;
    }
    this.#inFlight++;
    result.then(
      (value) => {
        this.#inFlight--;
        this.#answer(id, event, value);
      },
      (error: unknown) => {
        this.#inFlight--;
        this.#failed(id, event, error);
      },
    );
  }

  #answer(id: number, event: string, value: unknown): void {
    try {
      this.send([FrameType.result, id, value]);
    } catch (error) {
      this.#host.logFailure(this, event, 'ERR_NOT_ENCODABLE', error);
      this.sendError(id, fail('ERR_FUNCTION_FAILED', 'server function returned a value that cannot be sent'));
    }
  }

  #failed(id: number, event: string, error: unknown): void {
    const err = error instanceof CapsyncError ? error : fail('ERR_FUNCTION_FAILED');
    this.#host.logFailure(this, event, err.code, error instanceof CapsyncError ? undefined : error);
    this.sendError(id, err);
  }

  /** Encodes and sends a frame; capabilities in it are signed and become holdings of this connection. */
  send(frame: unknown[]): void {
    if (this.#closed) return;
    const bytes = this.#host.codec.encode(frame, this.#outbound, { check: true });
    this.#flushIssued();
    this.sendBytes(bytes);
  }

  /** Sends an error frame with a safe message. */
  sendError(id: number | null, error: CapsyncError): void {
    this.send([FrameType.error, id, error.code, error.message]);
  }

  /** Sends pre-encoded bytes (a push encoded once for all its recipients), enforcing the unsent-bytes bound. */
  sendBytes(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#transport.bufferedAmount + bytes.length > this.#host.maxBufferedBytes) {
      this.close(CloseCode.slowConsumer, 'slow consumer');
      return;
    }
    this.#transport.send(bytes);
  }

  /** True if this connection holds `cap` as cover for pushes (for tests and tools). */
  holds(cap: Capability): boolean {
    const key = holdingKey(cap);
    return key !== undefined && this.#holdings.has(key);
  }

  #hold(cap: Capability, outgoing: boolean): void {
    if (this.#held.has(cap)) return;
    const status = statusOf(cap);
    if (status === undefined || status instanceof CapsyncError) return;
    // Only a capability valid now is cover: a revoked or expired one never starts (or restarts) pushes.
    try {
      assertStillValid(status);
    } catch {
      return;
    }
    // A capability bound to someone else is no cover for this connection, even if it passes through it.
    const userId = this.user?.id;
    if (status.audiences.some((a) => a !== userId)) return;
    const key = holdingKey(cap)!;
    if (this.#holdings.has(key)) {
      this.#held.add(cap);
      return;
    }
    if (this.#holdings.size >= this.#host.maxHoldings) {
      this.#held = new WeakSet();
      // Bounded memory per connection: a client that keeps asking for fresh capabilities releases its oldest.
      const [oldestKey, oldest] = this.#holdings.entries().next().value as [string, Holding];
      this.#holdings.delete(oldestKey);
      clearTimeout(oldest.timer);
      this.#host.release(this, oldest.cap.scope);
    }
    const holding: Holding = { cap, verification: status };
    this.#holdings.set(key, holding);
    this.#held.add(cap);
    this.#host.hold(this, cap.scope);
    if (outgoing && this.user) this.#issuedBatch.push({ id: revocationId(status.tags[status.tags.length - 1]!, status.authority.crypto), expiresAt: status.expiresAt });
    if (status.expiresAt !== null) this.#armExpiry(key, holding);
  }

  #flushIssued(): void {
    if (this.#issuedBatch.length === 0) return;
    const batch = this.#issuedBatch;
    this.#issuedBatch = [];
    this.#host.issued(this, batch);
  }

  #armExpiry(key: string, holding: Holding): void {
    const authority = holding.verification.authority;
    const due = holding.verification.expiresAt! + authority.clockToleranceMs - authority.now();
    // setTimeout holds at most 2^31-1 ms; longer expiries re-arm when that fires.
    holding.timer = setTimeout(() => {
      if (authority.now() > holding.verification.expiresAt! + authority.clockToleranceMs) this.#drop(key, holding, 'expired', revocationId(holding.verification.tags.at(-1)!, authority.crypto));
      else this.#armExpiry(key, holding);
    }, Math.min(Math.max(due + 1, 0), 2 ** 31 - 1));
    holding.timer.unref?.();
  }

  /** Drops every holding that a revoked id covers, telling the client which capability ended. */
  revoked(ids: ReadonlySet<string>): void {
    for (const [key, holding] of this.#holdings) {
      const hit = idsOf(holding.verification).find((id) => ids.has(id));
      if (hit !== undefined) this.#drop(key, holding, 'revoked', hit);
    }
  }

  #drop(key: string, holding: Holding, reason: 'revoked' | 'expired', id: string): void {
    if (!this.#holdings.delete(key)) return;
    this.#held = new WeakSet();
    clearTimeout(holding.timer);
    this.#host.release(this, holding.cap.scope);
    this.send([FrameType.revoked, id, holding.cap.scope, reason]);
  }

  /** Closes the connection and releases everything it held. */
  close(code: number = CloseCode.normal, reason = ''): void {
    if (this.#closed) return;
    this.#transport.close(code, reason);
    this.dispose();
  }

  /** Releases holdings after the transport closed (from either side). */
  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const holding of this.#holdings.values()) {
      clearTimeout(holding.timer);
      this.#host.release(this, holding.cap.scope);
    }
    this.#holdings.clear();
    this.#held = new WeakSet();
    this.#host.closed(this);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

// A capability's identity is its last tag: equal tags mean the same chain (the verifier checked the bytes).
function holdingKey(cap: Capability): string | undefined {
  const status = statusOf(cap);
  if (status === undefined || status instanceof CapsyncError) return undefined;
  return tagKey(status.tags[status.tags.length - 1]!);
}
