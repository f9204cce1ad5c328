import { fork, type ChildProcess } from 'node:child_process';

/**
 * Request/response over the IPC channel of `child_process.fork`, between the benchmark runner and its
 * server and load processes. Requests carry an id; a child announces itself once with a `ready` event.
 */

interface Request {
  readonly id: number;
  readonly command: string;
  readonly args: unknown;
}

type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string }
  | { readonly event: 'ready'; readonly value: unknown };

/** What a child does with each command; a thrown error travels back as the request's rejection. */
export type Handlers = Record<string, (args: never) => unknown>;

/**
 * A process that runs a server and its load together (`bench/peers/inproc.ts`): the server's handlers wait
 * here for the load's, and one channel serves both. Kept on the global object, not in this module: the two
 * scripts may be bundled apart, each with its own copy of this file.
 */
const HELD = Symbol.for('capsync.bench.heldServer');
type Held = { handlers: Handlers; ready: unknown } | undefined;
const slot = globalThis as { [HELD]?: Held };

/** True in a process started by `inproc.ts`: the server does not answer the runner itself. */
export const inProcess = process.env['CAPSYNC_BENCH_INPROC'] === '1';

/** Server side, in one process with its load: keeps the handlers and the ready value for the load to serve. */
export function holdServer(handlers: Handlers, ready: unknown): void {
  slot[HELD] = { handlers, ready };
}

/** Load side, in one process with its server: the server's handlers and ready value, if one was held. */
export function takeServer(): { handlers: Handlers; ready: unknown } | undefined {
  const held = slot[HELD];
  slot[HELD] = undefined;
  return held;
}

/**
 * Child side: answers the runner's requests (and the built-in `exit`). The child exits as soon as the runner goes away, so a crashed
 * or killed runner never leaves servers or load processes behind.
 */
export function serveRequests(handlers: Handlers): void {
  if (process.send === undefined) throw new Error('this script is started by the benchmark runner (child_process.fork)');
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: Request) => {
    if (message.command === 'exit') {
      // A normal exit, so that `--cpu-prof` writes the profile.
      process.send!({ id: message.id, ok: true, value: null } satisfies Reply, () => process.exit(0));
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(handlers, message.command) ? handlers[message.command] : undefined;
    void (async () => {
      try {
        if (handler === undefined) throw new Error(`unknown command ${message.command}`);
        const value = await handler(message.args as never);
        process.send!({ id: message.id, ok: true, value } satisfies Reply);
      } catch (error) {
        process.send!({ id: message.id, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) } satisfies Reply);
      }
    })();
  });
}

/** Child side: tells the runner the child is ready (a server sends its port). */
export function announceReady(value: unknown): void {
  process.send!({ event: 'ready', value } satisfies Reply);
}

/** Runner side: one forked child and the requests in flight to it. */
export class ChildLink {
  readonly name: string;
  readonly child: ChildProcess;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  readonly #ready: Promise<unknown>;
  #exitCode: number | null | undefined;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    let readyResolve!: (value: unknown) => void;
    let readyReject!: (error: Error) => void;
    this.#ready = new Promise((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)));
    this.#ready.catch(() => {});
    child.on('message', (reply: Reply) => {
      if ('event' in reply) return readyResolve(reply.value);
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.value);
      else pending.reject(new Error(`${this.name}: ${reply.error}`));
    });
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitCode = code;
        const error = new Error(`${this.name} exited (${signal ?? code})`);
        readyReject(error);
        for (const pending of this.#pending.values()) pending.reject(error);
        this.#pending.clear();
        resolve();
      });
    });
  }

  /** Forks `script` (a compiled module) with an IPC channel. */
  static fork(name: string, script: URL, options: { args?: string[]; execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}): ChildLink {
    const child = fork(script, options.args ?? [], {
      execArgv: options.execArgv ?? [],
      env: options.env ?? process.env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    return new ChildLink(name, child);
  }

  /** Resolves with the child's ready value; rejects if it exits first or takes longer than `timeoutMs`. */
  ready<T>(timeoutMs = 30_000): Promise<T> {
    return withTimeout(this.#ready as Promise<T>, timeoutMs, `${this.name} did not start within ${timeoutMs} ms`);
  }

  /** Sends a command and resolves with the child's answer. */
  request<T>(command: string, args: unknown = null, timeoutMs = 120_000): Promise<T> {
    if (this.#exitCode !== undefined || !this.child.connected) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.#nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, command, args } satisfies Request);
    });
    return withTimeout(answer, timeoutMs, `${this.name}: ${command} took longer than ${timeoutMs} ms`);
  }

  /**
   * Stops the child: asks it to exit (so `--cpu-prof` can write its profile), then SIGKILL after `graceMs`.
   * Resolves once it has exited.
   */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.#exitCode !== undefined) return;
    if (this.child.connected) this.request('exit', null, graceMs).catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
