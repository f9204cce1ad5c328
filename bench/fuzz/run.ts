import { benchArgs } from '../args.js';
import { installVideoApp, seedIfEmpty, demoUsers } from '../../examples/video/app.js';
import '../../examples/video/video.js';
import { CapsyncServer, MemoryStore, silentLogger } from '../../server/index.js';
import { formatReport, fuzz } from './engine.js';

/**
 * `npm run fuzz -- --frames 1000000 [--seed N] [--connections 6] [--only INDEX] [--bad-frames 256]`: the long fuzz run against
 * the demo server, in this process over real sockets on 127.0.0.1. Prints the seed first, outcomes per code
 * and RSS start/peak/end at the end; exits 1 on any failure, each printed with the flags that replay it.
 */
const { values } = benchArgs('fuzz', {
  options: {
    frames: { type: 'string', default: '100000' }, seed: { type: 'string' }, connections: { type: 'string', default: '6' }, only: { type: 'string' },
    // Refused frames a connection may send before 4003 (the server's default is 16; more means fewer reconnects per frame).
    'bad-frames': { type: 'string', default: '256' },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
console.log(`fuzz seed ${seed} (replay with --seed ${seed})`);
const server = await CapsyncServer.create({ auth: { secret: 'fuzz-secret-fuzz-secret-fuzz-secret-0123' }, devUsers: demoUsers, store: new MemoryStore(), logger: silentLogger, connection: { maxBadFrames: Number(values['bad-frames']) } });
installVideoApp(server);
await seedIfEmpty(server);
await server.listen(0, '127.0.0.1');
// With --expose-gc (as `npm run fuzz` runs it): the live heap after a full collection, start and end. RSS also
// counts what the allocator keeps after a peak; the heap is what the server still holds.
const gc = (globalThis as { gc?: () => void }).gc;
const liveHeap = (): string => {
  gc!();
  gc!();
  return `${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MiB`;
};
const heapStart = gc === undefined ? undefined : liveHeap();
const report = await fuzz(
  {
    url: server.url,
    token: (who) => server.auth.issue(demoUsers[who === 'fuzzer' ? 'editor' : 'admin']!),
    rss: () => process.memoryUsage().rss,
  },
  {
    frames: Number(values.frames),
    seed,
    connections: Number(values.connections),
    ...(values.only === undefined ? {} : { only: Number(values.only) }),
    progress: (line) => console.log(line),
  },
);
console.log(formatReport(report).join('\n'));
if (heapStart !== undefined) console.log(`heap after GC: start ${heapStart}, end ${liveHeap()}`);
await server.close();
process.exit(report.failures.length === 0 ? 0 : 1);
