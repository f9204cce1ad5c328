import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** The repository root: the built demo runs from here, as `npm start` would. */
const root = fileURLToPath(new URL('../..', import.meta.url));
/** The built demo server (test/cli/global-setup.ts builds dist/ before any test file runs). */
const entry = join(root, 'dist', 'examples', 'video', 'main.js');
const READY = /capsync demo listening on (ws:\/\/\S+)/;
/**
 * Loaded into every child: it exits when its IPC channel to this test process closes, so a child cannot
 * outlive a test process that was killed (SIGKILL, a Ctrl-C'd run) before any cleanup hook could run.
 */
const ORPHAN_GUARD = "data:text/javascript,process.once('disconnect',()=>process.exit(70))";
/** Diagnostics keep the tail of a child's output, not all of it. */
const LOG_TAIL_CHARS = 16_384;

/** Options of {@link ServerProcesses.start}. */
export interface ServerProcessOptions {
  /** The data folder (SQLite store, generated secrets), or `:memory:` (each restart a new store: another epoch). Default: a new temporary folder, removed at cleanup. */
  readonly data?: string;
  /** The port. Default 0: a free one, kept by {@link ServerProcess.restart}. */
  readonly port?: number;
  /** The server's ping interval (`--heartbeat-ms`). Default: the demo's (30 s). */
  readonly heartbeatMs?: number;
  /** More flags for the demo (e.g. `--jwt-secret`, `--capability-keys`). */
  readonly args?: readonly string[];
  /** The server's pino level. Default `warn`. */
  readonly logLevel?: string;
  /** How long a start may take before it fails (a bound on a hung child, not a synchronisation). Default 15 s. */
  readonly readyLimitMs?: number;
  /** How many starts {@link ServerProcess.restart} tries while the port is still in use (EADDRINUSE). Default 5. */
  readonly restartAttempts?: number;
}

/** A start that failed: the child exited (or hung) before it printed its listening line. */
export class ServerStartError extends Error {
  constructor(
    message: string,
    /** True when the child failed because the port was taken. */
    readonly addressInUse: boolean,
  ) {
    super(message);
  }
}

/**
 * The built demo server (`node dist/examples/video/main.js`) as a real child process, for chaos tests: kill -9,
 * restart on the same data folder and port, SIGSTOP / SIGCONT, SIGTERM. Create it with
 * {@link ServerProcesses.start}, which reaps it after the test whatever happens.
 */
export class ServerProcess {
  readonly data: string;
  readonly #options: ServerProcessOptions;
  readonly #track: (child: ChildProcess) => void;
  #child!: ChildProcess;
  #exited!: Promise<number | null>;
  #port: number;
  #log = '';

  /** @internal Use {@link ServerProcesses.start}. */
  constructor(data: string, options: ServerProcessOptions, track: (child: ChildProcess) => void) {
    this.data = data;
    this.#options = options;
    this.#port = options.port ?? 0;
    this.#track = track;
  }

  /** The port the server listens on (the same across restarts). */
  get port(): number {
    return this.#port;
  }

  /** The server's WebSocket URL. */
  get url(): string {
    return `ws://127.0.0.1:${this.#port}`;
  }

  /** The current child's pid. */
  get pid(): number {
    return this.#child.pid!;
  }

  /** True until the current child has exited (a stopped child is still running). */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The tail of the current child's stdout and stderr, for failure messages. */
  get log(): string {
    return this.#log;
  }

  /** A session JWT for a demo user (admin, editor, editor2, guest), from the dev login. */
  token(user: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const request = get({ host: '127.0.0.1', port: this.#port, path: `/dev/login?user=${encodeURIComponent(user)}`, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (d: string) => (body += d));
        response.on('end', () => {
          if (response.statusCode !== 200) return reject(new Error(`dev login for ${user}: HTTP ${response.statusCode} ${body}`));
          resolve((JSON.parse(body) as { token: string }).token);
        });
      });
      request.on('error', reject);
    });
  }

  /** Sends SIGKILL; resolves once the child has exited. */
  async kill9(): Promise<void> {
    if (this.running) this.#child.kill('SIGKILL');
    await this.#exited;
  }

  /** Sends SIGSTOP: the server freezes with its sockets open, as a paused VM or laptop does. */
  stop(): void {
    this.#signal('SIGSTOP');
  }

  /** Sends SIGCONT: a stopped server carries on where it was. */
  cont(): void {
    this.#signal('SIGCONT');
  }

  /** Sends SIGTERM (and SIGCONT, so a stopped server can act on it); resolves with the exit code. */
  async terminate(): Promise<number | null> {
    if (this.running) {
      this.#child.kill('SIGTERM');
      this.#child.kill('SIGCONT');
    }
    return this.#exited;
  }

  /**
   * Starts a new child on the same data folder and port, once the last one has exited. Only EADDRINUSE is
   * retried (the port can outlive its process for a moment), at most `restartAttempts` quick attempts.
   */
  async restart(): Promise<void> {
    if (this.running) throw new Error(`server ${this.pid} is still running: kill9() or terminate() it first`);
    const attempts = this.#options.restartAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.spawn();
      } catch (error) {
        if (!(error instanceof ServerStartError && error.addressInUse) || attempt >= attempts) throw error;
      }
    }
  }

  /** @internal Spawns a child and resolves once it prints its listening line. */
  spawn(): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const key of Object.keys(env)) if (key.startsWith('CAPSYNC_')) delete env[key];
    const args = ['--import', ORPHAN_GUARD, entry, '--port', String(this.#port), '--host', '127.0.0.1', '--data', this.data, '--log-level', this.#options.logLevel ?? 'warn'];
    if (this.#options.heartbeatMs !== undefined) args.push('--heartbeat-ms', String(this.#options.heartbeatMs));
    args.push(...(this.#options.args ?? []));
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.#child = child;
    this.#log = '';
    this.#track(child);
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const keep = (d: string): void => {
      this.#log = (this.#log + d).slice(-LOG_TAIL_CHARS);
    };
    child.stdout!.setEncoding('utf8').on('data', keep);
    return new Promise<void>((resolve, reject) => {
      let stderr = '';
      let ready = false;
      const limitMs = this.#options.readyLimitMs ?? 15_000;
      const limit = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new ServerStartError(`server printed no listening line within ${limitMs} ms:\n${this.#log}`, false));
      }, limitMs);
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        keep(d);
        if (ready) return;
        stderr += d;
        const match = READY.exec(stderr);
        if (match === null) return;
        ready = true;
        clearTimeout(limit);
        this.#port = Number(new URL(match[1]!).port);
        resolve();
      });
      void this.#exited.then((code) => {
        clearTimeout(limit);
        reject(new ServerStartError(`server exited (${code ?? child.signalCode}) before it listened:\n${this.#log}`, /EADDRINUSE|is already in use/.test(this.#log)));
      });
    });
  }

  #signal(signal: NodeJS.Signals): void {
    if (!this.running) throw new Error(`cannot send ${signal}: server has exited`);
    this.#child.kill(signal);
  }
}

/**
 * Starts server processes and reaps them: every child it spawned is killed (SIGKILL) and awaited, and every
 * temporary data folder removed, in {@link disposeAll}; a hook on the test process's exit kills whatever a
 * crashed run left. {@link useServerProcesses} wires `disposeAll` into `afterEach`.
 */
export class ServerProcesses {
  readonly #children: ChildProcess[] = [];
  readonly #folders: string[] = [];

  constructor() {
    process.once('exit', () => {
      for (const child of this.#children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  }

  /** Starts the built demo server; resolves once it listens. */
  async start(options: ServerProcessOptions = {}): Promise<ServerProcess> {
    let data = options.data;
    if (data === undefined) {
      data = mkdtempSync(join(tmpdir(), 'capsync-chaos-'));
      this.#folders.push(data);
    }
    const server = new ServerProcess(data, options, (child) => this.#children.push(child));
    await server.spawn();
    return server;
  }

  /** Every child started since the last {@link disposeAll}. */
  get children(): readonly ChildProcess[] {
    return this.#children;
  }

  /** How many of them have not exited. */
  get running(): number {
    return this.#children.filter((c) => c.exitCode === null && c.signalCode === null).length;
  }

  /** Kills (SIGKILL) every child still running, waits for each exit, and removes the temporary data folders. */
  async disposeAll(): Promise<void> {
    const children = this.#children.splice(0);
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    for (const folder of this.#folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  }
}

/** A {@link ServerProcesses} for the calling test file, disposed after each test (even a failed one). */
export function useServerProcesses(): ServerProcesses {
  const processes = new ServerProcesses();
  afterEach(() => processes.disposeAll());
  return processes;
}
