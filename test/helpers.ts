import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter, take, timeout, toArray, type Observable } from 'rxjs';
import { connect, type CapsyncClient, type ConnectOptions } from '../client/index.js';
import { demoUsers, installVideoApp, seedIfEmpty } from '../examples/video/app.js';
import { afterEach } from 'vitest';
import { CapsyncServer, MemoryStore, SqliteStore, silentLogger, type ObjectStore, type ServerOptions } from '../server/index.js';

export const SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A demo server on port 0 with its clients; `close()` tears everything down. */
export interface DemoHarness {
  server: CapsyncServer;
  url: string;
  connectAs(user: keyof typeof demoUsers, options?: ConnectOptions): Promise<CapsyncClient>;
  token(user: keyof typeof demoUsers): Promise<string>;
  close(): Promise<void>;
}

export async function startDemo(options: Partial<ServerOptions> & { data?: string } = {}): Promise<DemoHarness> {
  const store = new SqliteStore(options.data ? join(options.data, 'capsync.sqlite') : ':memory:');
  // Quiet by default: tests that check what is logged pass their own logger.
  const server = await CapsyncServer.create({ auth: { secret: SECRET }, devUsers: demoUsers, store, logger: silentLogger, ...options });
  installVideoApp(server);
  await seedIfEmpty(server);
  await server.listen(0, '127.0.0.1');
  const clients: CapsyncClient[] = [];
  const token = (user: keyof typeof demoUsers): Promise<string> => server.auth.issue(demoUsers[user]!);
  return {
    server,
    url: server.url,
    token,
    async connectAs(user, connectOptions = {}) {
      const client = await connect(server.url, { token: await token(user), ...connectOptions });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
    },
  };
}

/** A temporary folder removed by the returned function. */
export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'capsync-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** The next value of an observable matching `predicate`, failing after `ms` (a bound, not a sleep). */
export function next<T>(source: Observable<T>, predicate: (value: T) => boolean = () => true, ms = 5000): Promise<T> {
  return firstValueFrom(source.pipe(filter(predicate), take(1), timeout(ms)));
}

/** Collects every value `source` emits until `until` resolves. */
export async function collectUntil<T>(source: Observable<T>, until: Promise<unknown>): Promise<T[]> {
  const values: T[] = [];
  const sub = source.subscribe((v) => values.push(v));
  try {
    await until;
  } finally {
    sub.unsubscribe();
  }
  return values;
}

/**
 * Proves a client received nothing of a kind: frames on one connection arrive in order, so once a round
 * trip issued after the action completes, anything the action caused has already arrived.
 */
export async function roundTrip(client: CapsyncClient): Promise<void> {
  await client.presence().catch(() => undefined);
}

export { toArray };

/**
 * Demo servers for in-memory clients (`capsync/testing`), never listening: `start()` makes one on `store`;
 * the latest is closed after each test, or earlier by `stop()`.
 */
export function memoryDemos(): { start(store?: ObjectStore): Promise<CapsyncServer>; stop(): Promise<void> } {
  let current: CapsyncServer | undefined;
  const stop = async (): Promise<void> => {
    await current?.close();
    current = undefined;
  };
  afterEach(stop);
  return {
    async start(store = new MemoryStore()) {
      current = await CapsyncServer.create({ auth: { secret: SECRET }, store, logger: silentLogger });
      installVideoApp(current);
      await seedIfEmpty(current);
      return current;
    },
    stop,
  };
}
