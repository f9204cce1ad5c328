import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { WebSocketServer, type RawData } from 'ws';
import { CapsyncServer, MemoryStore, SqliteStore, type ObjectStore, type ServerOptions } from '../../server/index.js';
import { now } from '../peers/clock.js';
import { announceReady, serveRequests } from '../peers/ipc.js';
import { CARDS_PER_FOLDER, Card, FOLDERS, folderName, seedCard, type Holdings } from './item.js';

/**
 * The server child of `npm run bench:resume`, one per measurement so that it is measured alone.
 *
 * `--mode latency`: server A (SQLite store in `--data`), server B (an in-memory store: another epoch, the same
 * capability keys, the same cards) and a raw `ws` floor server that answers a frame with frames of the sizes
 * it lists. `--mode herd`: one server on `--data` and `--port`; `--churn R` changes one card of every group
 * before it listens (changes made while the clients were away), so every client's resume has exactly one state.
 */
const { values } = parseArgs({
  options: {
    mode: { type: 'string' }, data: { type: 'string' }, port: { type: 'string', default: '0' },
    groups: { type: 'string', default: '100' }, churn: { type: 'string' },
  },
});
const secret = process.env['CAPSYNC_BENCH_SECRET'];
const keyJson = process.env['CAPSYNC_BENCH_CAPABILITY_KEY'];
if (secret === undefined || keyJson === undefined || values.data === undefined) throw new Error('started by bench/resume/run.ts');
const capabilityKeys = [JSON.parse(keyJson) as JWK];
const HEARTBEAT_MS = 600_000;
const startedAt = now();

/** Cards of one server by address key, kept as instances so a put bumps their version in place. */
class Cards {
  readonly byFolder = new Map<string, Card[]>();
  constructor(readonly server: CapsyncServer) {}
  async seed(prefix: 'f' | 'g' | 'n', folders: number): Promise<void> {
    for (let f = 0; f < folders; f++) {
      const folder = folderName(prefix, f);
      const cards = Array.from({ length: CARDS_PER_FOLDER }, (_, i) => seedCard(folder, i));
      for (const card of cards) await this.server.live.put(card);
      this.byFolder.set(folder, cards);
    }
  }
  async load(): Promise<void> {
    for (const card of await this.server.live.list(Card)) {
      const list = this.byFolder.get(card.folder) ?? [];
      list.push(card);
      this.byFolder.set(card.folder, list);
    }
    for (const list of this.byFolder.values()) list.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  }
  /** Puts card `index` of `folder` again with a new rev; returns its address and new version. */
  async change(folder: string, index: number): Promise<{ address: string[]; version: number }> {
    const card = this.byFolder.get(folder)![index]!;
    card.rev++;
    const version = await this.server.live.put(card);
    return { address: ['rs', folder, card.id], version };
  }
  holdings(folders: readonly string[]): Holdings {
    return { caps: folders.map((f) => this.server.mint(['rs', f])), cards: folders.flatMap((f) => this.byFolder.get(f) ?? []) };
  }
}

async function makeServer(store: ObjectStore, options: Partial<ServerOptions> = {}): Promise<{ server: CapsyncServer; cards: Cards }> {
  const server = await CapsyncServer.create({ auth: { secret: secret! }, store, capabilityKeys, heartbeatMs: HEARTBEAT_MS, ...options });
  const cards = new Cards(server);
  const mine = Array.from({ length: FOLDERS }, (_, f) => folderName('f', f));
  // What an app without resume calls after every reconnect: its folders' capabilities and every card in them.
  server.callable('open_folders', () => cards.holdings(mine));
  server.callable('join_group', (_ctx, group: unknown) => cards.holdings([folderName('g', Number(group))]));
  return { server, cards };
}

/** CPU time of this process sampled every 100 ms, so the runner can cut out the herd's window. */
const timeline: [number, number][] = [];
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
setInterval(() => timeline.push([now(), cpuNow()]), 100).unref();

if (values.mode === 'latency') {
  const a = await makeServer(new SqliteStore(join(values.data, 'capsync.sqlite')));
  const b = await makeServer(new MemoryStore());
  for (const { cards } of [a, b]) {
    await cards.seed('f', FOLDERS);
    await cards.seed('n', FOLDERS);
  }
  const floor = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  floor.on('connection', (socket) => {
    socket.on('message', (data: RawData) => {
      const frame = data as Buffer;
      const count = frame.readUInt32LE(0);
      for (let i = 0; i < count; i++) socket.send(Buffer.alloc(frame.readUInt32LE(4 + 4 * i), 7));
    });
  });
  await new Promise<void>((resolve) => floor.once('listening', resolve));
  let rep = 0;
  serveRequests({
    /** `count` cards of the measured client change, one in each of `count` folders, and `noise` cards of others. */
    change: async ({ count, noise }: { count: number; noise: number }) => {
      const changed = [];
      for (let k = 0; k < count; k++) changed.push(await a.cards.change(folderName('f', (rep * count + k) % FOLDERS), rep % CARDS_PER_FOLDER));
      for (let k = 0; k < noise; k++) await a.cards.change(folderName('n', (rep * noise + k) % FOLDERS), (rep + k) % CARDS_PER_FOLDER);
      rep++;
      return changed;
    },
    sessions: () => a.server.sessionCount + b.server.sessionCount,
    /** This process's CPU time so far, in ms. */
    cpu: () => cpuNow() * 1000,
  });
  const port = (s: CapsyncServer) => new URL(s.url).port;
  await Promise.all([a.server.listen(0, '127.0.0.1'), b.server.listen(0, '127.0.0.1')]);
  announceReady({ a: `ws://127.0.0.1:${port(a.server)}`, b: `ws://127.0.0.1:${port(b.server)}`, floor: `ws://127.0.0.1:${(floor.address() as { port: number }).port}` });
} else if (values.mode === 'herd') {
  // Every herd client is its own user: with the default presence policy ('all') each join is announced to
  // every other connected user, n² presence frames (50 million for 10,000), which is what a herd of joins
  // would then measure; a dashboard of 10,000 users does not show all of them to each other. Synchronous
  // NORMAL, not FULL: kill -9 loses nothing committed in WAL mode (only a power cut could), and the 10,000
  // keyed join calls of the setup would otherwise wait for two fsyncs each, one after another.
  const { server, cards } = await makeServer(new SqliteStore(join(values.data, 'capsync.sqlite'), { durability: 'normal' }), { presence: 'none' });
  const groups = Number(values.groups);
  await cards.load();
  if (cards.byFolder.size === 0) await cards.seed('g', groups);
  if (values.churn !== undefined) {
    for (let g = 0; g < groups; g++) await cards.change(folderName('g', g), Number(values.churn) % CARDS_PER_FOLDER);
  }
  serveRequests({
    sessions: () => server.sessionCount,
    /** `[folder, [version of card 0, 1, ...]]` of every group: what each client must have once resumed. */
    versions: () => [...cards.byFolder].map(([folder, list]) => [folder, list.map((c) => c.version ?? 0)]),
    timeline: () => timeline,
  });
  const { port } = await server.listen(Number(values.port), '127.0.0.1');
  announceReady({ url: `ws://127.0.0.1:${port}`, startedAt, readyAt: now(), startupCpuSeconds: cpuNow() });
} else {
  throw new Error(`unknown --mode ${values.mode}`);
}
