import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { installVideoApp, seedIfEmpty, demoUsers } from '../../examples/video/app.js';
import { Video } from '../../examples/video/video.js';
import { Codec } from '../../protocol/codec.js';
import { FrameType } from '../../protocol/frames.js';
import { CapsyncServer, MemoryStore, silentLogger } from '../../server/index.js';
import { announceReady, ChildLink, serveRequests } from '../peers/ipc.js';

/**
 * `npm run bench:fanout`: one write to a video held by `--holders` connections. For each push slice size
 * (`--slices`, default 256 and 1e9, the latter writing to every holder in one go as before slicing), the
 * server child reports the longest event-loop stall (the longest gap of a 1 ms timer) while the push goes out, and
 * the runner the time until the last holder had it. `--rounds` writes per slice size, medians.
 */
const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'runner' }, slice: { type: 'string' },
    holders: { type: 'string', default: '10000' }, slices: { type: 'string', default: '256,1000000000' },
    rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false },
  },
});
const SECRET = 'bench-fanout-secret-bench-fanout-secret-0123';
const SCRIPT = new URL(import.meta.url);
const VIDEO = 'dQw4w9WgXcQ';

async function serve(): Promise<void> {
  const server = await CapsyncServer.create({
    auth: { secret: SECRET }, devUsers: demoUsers, store: new MemoryStore(), logger: silentLogger, heartbeatMs: 600_000,
    pushSliceSize: Number(values.slice),
  });
  installVideoApp(server);
  await seedIfEmpty(server);
  await server.listen(0, '127.0.0.1');
  // The longest gap between two runs of a 1 ms interval timer since the write began: how long the event loop
  // answered nothing else. (monitorEventLoopDelay, reset just before the write, missed the one long stall.)
  let last = performance.now();
  let longest = 0;
  setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1).unref();
  serveRequests({
    tokens: (n: number) => Promise.all(Array.from({ length: n }, (_, i) => server.auth.issue({ id: `holder-${i}`, roles: ['editor'] }))),
    write: async (description: string) => {
      const video = (await server.live.get(Video, ['youtube_videos', VIDEO]))!;
      video.description = description;
      last = performance.now();
      longest = 0;
      await server.live.put(video);
      return null;
    },
    stall: () => Math.max(longest, performance.now() - last),
  });
  announceReady({ url: server.url });
}

/** A holder: a raw socket that called get_my_videos (so it holds the videos) and waits for pushes. */
function holder(url: string, token: string, onPush: (description: string) => void): Promise<WebSocket> {
  const codec = new Codec();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('error', reject);
    ws.on('message', (data: Buffer) => {
      const frame = rawFrame(data);
      if (frame[0] === FrameType.hello) ws.send(codec.encode([FrameType.call, 1, 'get_my_videos', []]));
      else if (frame[0] === FrameType.result || frame[0] === FrameType.error) resolve(ws);
      else if (frame[0] === FrameType.push) onPush(String((frame[4] as { description?: unknown } | null)?.description));
    });
  });
}

// Results carry portable Videos the runner has not registered: only the frame type and a push's state matter.
import { unpack } from 'msgpackr';
function rawFrame(data: Buffer): unknown[] {
  try {
    return unpack(data) as unknown[];
  } catch {
    return [data[1]]; // a fixarray whose first element is the frame type
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function runner(): Promise<void> {
  const n = Number(values.holders);
  const rows = [];
  for (const slice of values.slices.split(',').map(Number)) {
    const server = ChildLink.fork('server', SCRIPT, { args: ['--role', 'server', '--slice', String(slice)] });
    const sockets: WebSocket[] = [];
    try {
      const { url } = await server.ready<{ url: string }>();
      const tokens = await server.request<string[]>('tokens', n);
      let waiting: { description: string; left: number; done: () => void } | undefined;
      const onPush = (description: string) => {
        if (waiting !== undefined && description === waiting.description && --waiting.left === 0) waiting.done();
      };
      for (let i = 0; i < n; i += 200) sockets.push(...(await Promise.all(tokens.slice(i, i + 200).map((t) => holder(url, t, onPush)))));
      const stalls: number[] = [];
      const lasts: number[] = [];
      for (let round = 0; round < Number(values.rounds); round++) {
        const description = `round ${round} of slice ${slice}`;
        const all = new Promise<void>((done) => (waiting = { description, left: n, done }));
        const start = performance.now();
        await server.request('write', description);
        await all;
        lasts.push(performance.now() - start);
        stalls.push(await server.request<number>('stall'));
      }
      rows.push({ slice, holders: n, maxStallMs: median(stalls), lastDeliveryMs: median(lasts) });
    } finally {
      for (const ws of sockets) ws.terminate();
      await server.stop();
    }
  }
  if (values.json) return console.log(JSON.stringify(rows));
  console.log(`one write to a video held by ${n} connections (medians of ${values.rounds}):`);
  for (const r of rows) {
    const label = r.slice >= 1e8 ? 'unsliced (before)' : `slices of ${r.slice}`;
    console.log(`  ${label.padEnd(18)} longest event-loop stall ${r.maxStallMs.toFixed(1)} ms, last holder after ${r.lastDeliveryMs.toFixed(0)} ms`);
  }
}

if (values.role === 'server') await serve();
else await runner();
