import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * redis-server children for tests and `bench:cluster` (test/redis re-exports this): each on its own port and
 * data folder, never a system-wide Redis.
 */

/** Where Debian puts it (`apt-get install redis-server`); `REDIS_SERVER` overrides. */
const binary = process.env['REDIS_SERVER'] ?? 'redis-server';

/** A free TCP port on 127.0.0.1 (the OS picks it; redis-server cannot listen on port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Options of {@link startRedis}. */
export interface RedisServerOptions {
  /** AOF with `appendfsync always` (what capsync's default durability check asks for). Default true. */
  readonly aof?: boolean;
  /** A data folder to reuse (a restart); default a new temporary one, removed by `stop()`. */
  readonly dir?: string;
  /** A port to reuse (a restart); default a free one. */
  readonly port?: number;
}

/** A redis-server child of the test process, on its own port and data folder. */
export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  /** SIGKILL (no shutdown save), resolving once it exited. */
  kill9(): Promise<void>;
  /** Starts a new server on the same port and folder (after `kill9`): the AOF is replayed. */
  restart(): Promise<RedisServer>;
  /** Kills it and removes its folder (if this helper made it). */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server --port N --dir D --save ''` (plus AOF with fsync always unless `aof: false`) and
 * resolves once it accepts connections. Tests never use a system-wide Redis.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'capsync-redis-'));
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await launch(port, dir, options.aof ?? true, ownDir);
    } catch (error) {
      // Another process may have taken the free port between the probe and the start: try another.
      if (options.port !== undefined || attempt >= 5 || !/Address already in use/.test(String(error))) throw error;
    }
  }
}

function launch(port: number, dir: string, aof: boolean, ownDir: boolean): Promise<RedisServer> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', ''];
  args.push(...(aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let log = '';
  return new Promise((resolve, reject) => {
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start within 10 s:\n${log}`));
    }, 10_000);
    child.once('error', (error) => {
      clearTimeout(limit);
      reject(error);
    });
    void exited.then(() => {
      clearTimeout(limit);
      reject(new Error(`redis-server exited before it was ready:\n${log}`));
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      log = (log + d).slice(-8192);
      if (!/Ready to accept connections/.test(log)) return;
      clearTimeout(limit);
      const server: RedisServer = {
        port,
        dir,
        url: `redis://127.0.0.1:${port}`,
        async kill9() {
          killOnExit();
          await exited;
          process.removeListener('exit', killOnExit);
        },
        async restart() {
          return launch(port, dir, aof, ownDir);
        },
        async stop() {
          await server.kill9();
          if (ownDir) rmSync(dir, { recursive: true, force: true });
        },
      };
      resolve(server);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-8192)));
  });
}
