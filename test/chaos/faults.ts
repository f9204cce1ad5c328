import fc from 'fast-check';
import { connect, type CapsyncClient } from '../../client/index.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import type { ServerProcess, ServerProcesses } from './server-process.js';
import { TcpProxy } from './tcp-proxy.js';

/** The demo users that may edit (a guest gets no video, so has nothing to edit). */
export const editors = ['admin', 'editor', 'editor2'] as const;
/** A demo user that may edit. */
export type Editor = (typeof editors)[number];

/** `user` sets the description of their `video`-th video (of the three seeded) to `text`. */
export interface Edit {
  readonly kind: 'edit';
  readonly user: Editor;
  readonly video: number;
  readonly text: string;
}

/** `user` closes their client, if any, and connects a new one through the proxy. */
export interface Reconnect {
  readonly kind: 'reconnect';
  readonly user: Editor;
}

/**
 * One step of a chaos sequence. A fault that breaks something and its repair come as one step (`stall` is
 * stall, the steps `during`, resume), so after every step the system is whole again and invariants can be
 * checked; what happens `during` a fault is where the interesting interleavings are.
 */
export type Fault =
  | Edit
  | Reconnect
  | { readonly kind: 'cut' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'stall'; readonly during: readonly Edit[] }
  | { readonly kind: 'kill9'; readonly during: readonly Edit[] }
  | { readonly kind: 'stop'; readonly during: readonly Edit[] }
  | { readonly kind: 'refuse'; readonly during: readonly Reconnect[] };

/** An {@link Edit} of any editor, video and (short) text. */
export const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constant('edit' as const),
  user: fc.constantFrom(...editors),
  video: fc.nat(2),
  text: fc.string({ maxLength: 24 }),
});

/** A {@link Reconnect} of any editor. */
export const reconnectArb: fc.Arbitrary<Reconnect> = fc.record({ kind: fc.constant('reconnect' as const), user: fc.constantFrom(...editors) });

/** Any one {@link Fault}; delays stay small (0-20 ms) so sequences run fast. */
export const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  editArb,
  reconnectArb,
  fc.constant({ kind: 'cut' as const }),
  fc.record({ kind: fc.constant('delay' as const), ms: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ kind: fc.constant('stall' as const), during: fc.array(editArb, { maxLength: 2 }) }),
  fc.record({ kind: fc.constant('kill9' as const), during: fc.array(editArb, { maxLength: 2 }) }),
  fc.record({ kind: fc.constant('stop' as const), during: fc.array(editArb, { maxLength: 2 }) }),
  fc.record({ kind: fc.constant('refuse' as const), during: fc.array(reconnectArb, { maxLength: 1 }) }),
);

/** A random sequence of {@link Fault}s, every editor connected first. */
export function faultsArb(maxLength = 6): fc.Arbitrary<Fault[]> {
  return fc.array(faultArb, { minLength: 1, maxLength }).map((faults) => [...editors.map((user): Reconnect => ({ kind: 'reconnect', user })), ...faults]);
}

/** How one call ended: its result, or its error code. */
export type CallOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly code: string };

/** A call the runner sent, and its outcome once settled. */
export interface CallRecord {
  readonly user: Editor;
  readonly edit: Edit;
  readonly outcome: Promise<CallOutcome>;
}

/** Options of {@link ChaosRun.start}. */
export interface ChaosRunOptions {
  /** Every client's call timeout: a bound on a call that would never settle. Default 10 s. */
  readonly callTimeoutMs?: number;
  /** A failure guard on each step's probe and on connects. Default 10 s. */
  readonly limitMs?: number;
}

/**
 * Applies {@link Fault}s to a demo server process behind a {@link TcpProxy}, with one client per editor
 * connected through the proxy, and records every call it sends. Property tests drive it with
 * {@link faultsArb} and check their invariants after each step and on {@link settle}.
 *
 * @example
 * ```ts
 * const run = await ChaosRun.start(processes);
 * try {
 *   for (const fault of faults) { await run.apply(fault); await run.probe(); }
 *   const outcomes = await run.settle();
 * } finally {
 *   await run.dispose();
 * }
 * ```
 */
export class ChaosRun {
  /** Every call sent, in order. */
  readonly calls: CallRecord[] = [];
  /** Steps applied so far, for failure messages. */
  readonly applied: Fault[] = [];
  readonly #clients = new Map<Editor, { client: CapsyncClient; videos: Video[] }>();
  readonly #retired: CapsyncClient[] = [];
  readonly #tokens = new Map<string, string>();
  readonly #options: ChaosRunOptions;

  private constructor(
    /** The demo server child process. */
    readonly server: ServerProcess,
    /** The proxy every client connects through. */
    readonly proxy: TcpProxy,
    options: ChaosRunOptions,
  ) {
    this.#options = options;
  }

  /** Starts a server process (through `processes`, which reaps it) and a proxy in front of it. */
  static async start(processes: ServerProcesses, options: ChaosRunOptions = {}): Promise<ChaosRun> {
    const server = await processes.start();
    return new ChaosRun(server, await TcpProxy.start(server.port), options);
  }

  /** The client `user` has now, if connected. */
  client(user: Editor): CapsyncClient | undefined {
    return this.#clients.get(user)?.client;
  }

  /** Applies one step; resolves once its repair (resume, restart, SIGCONT, accept) is done. */
  async apply(fault: Fault): Promise<void> {
    this.applied.push(fault);
    switch (fault.kind) {
      case 'edit':
        return this.#edit(fault);
      case 'reconnect':
        return this.#reconnect(fault.user);
      case 'cut':
        await this.proxy.cut();
        return;
      case 'delay':
        return this.proxy.delay(fault.ms);
      case 'stall':
        this.proxy.stall();
        for (const edit of fault.during) this.#edit(edit);
        return this.proxy.resume();
      case 'kill9':
        await this.server.kill9();
        for (const edit of fault.during) this.#edit(edit);
        return this.server.restart();
      case 'stop':
        this.server.stop();
        for (const edit of fault.during) this.#edit(edit);
        return this.server.cont();
      case 'refuse':
        this.proxy.refuse(true);
        for (const step of fault.during) await this.#reconnect(step.user);
        return this.proxy.refuse(false);
    }
  }

  /** Proves the whole path works now: a fresh client through the proxy connects, answers a call, and closes. */
  async probe(user: Editor = 'editor'): Promise<void> {
    const limitMs = this.#options.limitMs ?? 10_000;
    const client = await connect(this.proxy.url, { token: await this.#token(user), reconnect: false, connectTimeoutMs: limitMs, callTimeoutMs: limitMs });
    try {
      await client.call<Video[]>('get_my_videos');
    } finally {
      await client.close();
    }
  }

  /** Waits for every recorded call to settle; resolves with their outcomes, in order. */
  settle(): Promise<CallOutcome[]> {
    return Promise.all(this.calls.map((c) => c.outcome));
  }

  /** Closes the proxy (cutting whatever is left), then every client; the server process is its owner's to reap. */
  async dispose(): Promise<void> {
    await this.proxy.close();
    const clients = [...this.#retired, ...[...this.#clients.values()].map((c) => c.client)];
    this.#clients.clear();
    await Promise.all(clients.map((c) => c.close()));
    await this.settle();
  }

  /** Sends the edit if its user holds that video now; a user without a client or video sends nothing. */
  #edit(edit: Edit): void {
    const held = this.#clients.get(edit.user);
    const video = held?.videos[edit.video];
    if (held === undefined || video === undefined) return;
    const outcome = held.client.call<number>('set_video_description', video.cap, edit.text).then(
      (value): CallOutcome => ({ ok: true, value }),
      (error: unknown): CallOutcome => ({ ok: false, code: (error as { code?: string }).code ?? String(error) }),
    );
    this.calls.push({ user: edit.user, edit, outcome });
  }

  /** Replaces `user`'s client; a refused connect leaves the user without one. */
  async #reconnect(user: Editor): Promise<void> {
    const old = this.#clients.get(user);
    this.#clients.delete(user);
    if (old !== undefined) await old.client.close();
    const limitMs = this.#options.limitMs ?? 10_000;
    let client: CapsyncClient;
    try {
      client = await connect(this.proxy.url, { token: await this.#token(user), reconnect: false, connectTimeoutMs: limitMs, callTimeoutMs: this.#options.callTimeoutMs ?? 10_000 });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_NOT_CONNECTED') return;
      throw error;
    }
    try {
      this.#clients.set(user, { client, videos: await client.call<Video[]>('get_my_videos') });
    } catch (error) {
      this.#retired.push(client);
      throw error;
    }
  }

  /** Tokens are asked of the server directly, once per user: its JWT secret lives in the data folder, so they survive restarts. */
  async #token(user: Editor): Promise<string> {
    let token = this.#tokens.get(user);
    if (token === undefined) this.#tokens.set(user, (token = await this.server.token(user)));
    return token;
  }
}
