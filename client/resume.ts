import type { Capability } from '../protocol/capability/capability.js';
import { CapsyncError, fail, isErrorCode } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { Hello } from './connection.js';
import { HeldCapabilities, related } from './held-capabilities.js';
import type { LiveRegistry } from './live-registry.js';

/** The resume's answer (protocol/SPEC.md section 7, resume). */
interface ResumeAnswer {
  readonly epoch?: unknown;
  readonly seq?: unknown;
  readonly refused?: unknown;
  readonly identity?: unknown;
}

/**
 * What a client brings to a new connection and takes from it: the signed capabilities it still holds, the
 * versions it has seen, and the store cookie (`epoch`, `seq`). Builds the `resume` frame and applies its
 * answer and the hello; decides which `live()` streams end when rights stop working.
 */
export class ResumeState {
  readonly held = new HeldCapabilities();
  readonly #live: LiveRegistry;
  /** The store identity the versions belong to, and the highest change sequence number caught up to. */
  #epoch: string | null = null;
  #seq = 0;
  /** An anonymous client's identity (its first hello's): its capabilities are bound to it, so every resume re-presents it. */
  #identity: string | undefined;
  /** The capabilities the resume in flight presented: `refused` indexes into them. */
  #presented: Capability[] | undefined;

  constructor(live: LiveRegistry) {
    this.#live = live;
  }

  /** The store cookie, as the next resume would present it. */
  get cookie(): { epoch: string | null; seq: number } {
    return { epoch: this.#epoch, seq: this.#seq };
  }

  /** True between sending a resume and its answer: the server is still catching this client up. */
  get catchingUp(): boolean {
    return this.#presented !== undefined;
  }

  /** The resume frame for a new connection, with request id `id`. */
  frame(id: number): unknown[] {
    const caps = this.held.list();
    this.#presented = caps;
    const identity = this.#identity !== undefined ? { identity: this.#identity } : {};
    return [FrameType.resume, id, { caps, seen: this.#live.seen(), epoch: this.#epoch, seq: this.#seq, ...identity }];
  }

  /**
   * A hello arrived. A different epoch means another store (restarted in memory, restored from a backup):
   * versions from before are not comparable, so every one is reset before the server's snapshot arrives.
   */
  hello(hello: Hello): void {
    // The first identity is the one capabilities are bound to; a reconnect's hello offers a fresh one, which
    // the resume's answer replaces with the adopted one (or confirms, if the server could not adopt it).
    if (this.#identity === undefined) this.#identity = hello.identity;
    if (hello.epoch === undefined) return;
    if (this.#epoch === null) {
      this.#epoch = hello.epoch;
      this.#seq = hello.seq ?? 0;
    } else if (hello.epoch !== this.#epoch) {
      this.#live.resetVersions();
      this.#epoch = hello.epoch;
      // Nothing of the new store has been seen yet; the resume's answer says how far this client now is.
      this.#seq = 0;
    }
  }

  /** A push with a change sequence number arrived. */
  pushed(seq: number | undefined): void {
    // A resume's catch-up need not come in sequence order: only its answer says the client is caught up.
    if (seq !== undefined && !this.catchingUp && seq > this.#seq) this.#seq = seq;
  }

  /** The resume was answered (or refused: `answer` undefined); capabilities the server refused stop working. */
  answered(answer: unknown): void {
    const presented = this.#presented ?? [];
    this.#presented = undefined;
    const { epoch, seq, refused, identity } = (typeof answer === 'object' && answer !== null ? answer : {}) as ResumeAnswer;
    if (typeof identity === 'string') this.#identity = identity;
    if (typeof epoch === 'string') this.#epoch = epoch;
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) this.#seq = seq;
    if (!Array.isArray(refused)) return;
    for (const entry of refused) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'number') continue;
      const cap = presented[entry[0]];
      if (cap === undefined) continue;
      const code = isErrorCode(entry[1]) ? entry[1] : 'ERR_CAPABILITY_REVOKED';
      this.#lose([cap], cap.scope, new CapsyncError(code));
    }
  }

  /** The connection dropped before the resume's answer. */
  abandoned(): void {
    this.#presented = undefined;
  }

  /** A `revoked` notice: the holding with that scope no longer works. */
  revoked(revocationId: string, scope: JsonValue[], reason: 'revoked' | 'expired'): void {
    this.#lose(this.held.revokedBy(revocationId, scope), scope, fail(reason === 'expired' ? 'ERR_CAPABILITY_EXPIRED' : 'ERR_CAPABILITY_REVOKED'));
  }

  /**
   * `caps` stopped working: they are no longer held, and every live object they covered that no other held
   * capability covers errors with `error` (this client's last right to it is gone).
   */
  #lose(caps: readonly Capability[], scope: readonly JsonValue[], error: CapsyncError): void {
    for (const cap of caps) this.held.delete(cap);
    const scopes = [scope, ...caps.map((cap) => cap.scope)];
    for (const address of this.#live.addresses((a) => scopes.some((s) => related(s, a)))) {
      if (!this.held.covers(address)) this.#live.fail(address, error);
    }
  }
}
