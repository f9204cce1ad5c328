import { CapsyncError, fail } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import { type CallListener, isKeyedCall, PackedValue } from './calls.js';
import type { RequestFrame, SessionEnv } from './session-env.js';
import type { ServerSession } from './session.js';

/**
 * Runs one session's request frames through the core and answers each: at most `maxInFlight` at once
 * (`ERR_RATE_LIMITED` past it; a socket's fair service holds its frames before that), a synchronous answer
 * in the same turn, a failure as a typed error frame. Each call that goes asynchronous is reported to the
 * session's meter, started and settled, so that what it costs after its first turn is charged too.
 */
export class SessionRequests {
  readonly #env: SessionEnv;
  readonly #session: ServerSession;
  #inFlight = 0;

  constructor(env: SessionEnv, session: ServerSession) {
    this.#env = env;
    this.#session = session;
  }

  /** Runs `frame` (request id `id`) and sends its result or error frame. Never throws. */
  run(id: number, frame: RequestFrame, refusal?: CapsyncError): void {
    const event = eventNames[frame[0]]!;
    const fn = frame[0] === FrameType.call ? frame[2] : undefined;
    if (this.#inFlight >= this.#env.connection.maxInFlight) {
      this.#session.sendError(id, fail('ERR_RATE_LIMITED'));
      return;
    }
    let result: unknown;
    try {
      result = this.#env.request(this.#session, frame, refusal);
    } catch (error) {
      this.#failed(id, event, error, fn);
      return;
    }
    // A function that answers synchronously is answered in the same turn: no promise, no microtask.
    if (!isThenable(result)) {
      this.#answer(id, event, result, fn);
      return;
    }
    this.#inFlight++;
    const meter = this.#session.meter;
    const pending: Pending = { id, event, fn, meter, mark: meter?.started() ?? 0 };
    // A keyed call tells its answer to this runner with that small context: no promise, no closures.
    if (isKeyedCall(result)) result.listen(this.#settles, pending);
    else result.then((value) => this.#settles.value(pending, value), (error: unknown) => this.#settles.error(pending, error));
  }

  /** Answers a request that went asynchronous once it settles, and tells the meter. */
  readonly #settles: CallListener<Pending> = {
    value: (c, value) => {
      this.#inFlight--;
      this.#answer(c.id, c.event, value, c.fn);
      c.meter?.settled(c.mark);
    },
    error: (c, error) => {
      this.#inFlight--;
      this.#failed(c.id, c.event, error, c.fn);
      c.meter?.settled(c.mark);
    },
  };

  #answer(id: number, event: string, value: unknown, fn: string | undefined): void {
    try {
      const frame = value instanceof PackedValue ? value.frame(id) : undefined;
      if (frame === undefined) {
        this.#session.send([FrameType.result, id, value instanceof PackedValue ? this.#env.codec.decode(value.bytes) : value]);
      } else {
        // The value was packed once (a keyed call's stored outcome): checked here as send() checks what it encodes.
        this.#env.codec.checkSendable(frame);
        this.#session.sendBytes(frame);
      }
    } catch (error) {
      this.#env.logFailure(this.#session, event, 'ERR_NOT_ENCODABLE', error, fn);
      this.#session.sendError(id, fail('ERR_FUNCTION_FAILED', 'server function returned a value that cannot be sent'));
    }
  }

  #failed(id: number, event: string, error: unknown, fn: string | undefined): void {
    const err = error instanceof CapsyncError ? error : fail('ERR_FUNCTION_FAILED');
    this.#env.logFailure(this.#session, event, err.code, error instanceof CapsyncError ? undefined : error, fn);
    this.#session.sendError(id, err);
  }
}

/** A request that went asynchronous, while it runs. */
interface Pending {
  readonly id: number;
  readonly event: string;
  readonly fn: string | undefined;
  readonly meter: ServerSession['meter'];
  readonly mark: number;
}

const eventNames: Record<number, string> = {
  [FrameType.call]: 'call',
  [FrameType.delegate]: 'delegate',
  [FrameType.revoke]: 'revoke',
  [FrameType.refresh]: 'refresh',
  [FrameType.presence]: 'presence',
  [FrameType.resume]: 'resume',
  [FrameType.grants]: 'grants',
  [FrameType.watch]: 'watch',
};

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
