import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { installVideoApp, seedIfEmpty, demoUsers } from '../../examples/video/app.js';
import { CapsyncServer, MemoryStore, silentLogger } from '../../server/index.js';
import { Video } from '../../examples/video/video.js';
import { Capability } from '../../protocol/index.js';
import { announceReady, serveRequests } from '../peers/ipc.js';
import { census } from './census.js';

/**
 * The server child of `npm run bench:memory`, started with `--expose-gc` so that every figure is what stays
 * after a full collection. `--mode capsync`: the demo server (in-memory store); `--mode ws`: a raw `ws` server
 * that keeps its sockets and does nothing else (the floor an idle connection costs).
 */
const { values } = parseArgs({ options: { mode: { type: 'string', default: 'capsync' } } });
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('bench/memory/child.js runs with --expose-gc');
export const SECRET = 'bench-memory-secret-bench-memory-secret-0123';

/** What stays after full collections: heap used, ArrayBuffers (outside the heap), RSS. */
function settled(): { heapUsed: number; arrayBuffers: number; external: number; rss: number } {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, external: m.external, rss: m.rss };
}

if (values.mode === 'ws') {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (socket) => socket.on('message', () => {}));
  wss.on('listening', () => {
    serveRequests({ memory: () => settled(), census: (detail?: boolean) => (settled(), census(detail === true)), connections: () => wss.clients.size });
    announceReady({ port: (wss.address() as { port: number }).port });
  });
} else {
  const server = await CapsyncServer.create({
    auth: { secret: SECRET }, devUsers: demoUsers, store: new MemoryStore(), logger: silentLogger, heartbeatMs: 600_000,
  });
  installVideoApp(server);
  // get_my_videos with an expiry an hour away: each held capability then has a deadline too (`--expiring`).
  server.callable('bench_expiring_videos', async () => (await server.live.list(Video)).map((v) => new Capability(['youtube_videos', v.id, 'update'], { expiresAt: Date.now() + 3_600_000 })));
  // Three capabilities of objects never granted before (`--distinct`): ids of a video's length, none shared.
  let nextId = 0;
  const distinctId = (): string => `v${String(nextId++).padStart(10, '0')}`;
  server.callable('bench_distinct', () => [0, 1, 2].map(() => new Capability(['youtube_videos', distinctId(), 'update'])));
  server.callable('bench_distinct_expiring', () => [0, 1, 2].map(() => new Capability(['youtube_videos', distinctId(), 'update'], { expiresAt: Date.now() + 3_600_000 })));
  await seedIfEmpty(server);
  await server.listen(0, '127.0.0.1');
  serveRequests({
    memory: () => settled(),
    census: (detail?: boolean) => (settled(), census(detail === true)),
    connections: () => server.sessionCount,
    token: (user: string) => server.auth.issue(demoUsers[user as keyof typeof demoUsers]!),
    // One user per idle connection: a user may have only maxConnectionsPerUser open at once.
    tokens: (n: number) => Promise.all(Array.from({ length: n }, (_, i) => server.auth.issue({ id: `idle-${i}`, roles: [] }))),
  });
  announceReady({ port: new URL(server.url).port });
}
