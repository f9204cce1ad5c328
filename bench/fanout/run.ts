import { benchArgs } from '../args.js';
import { WebSocket, WebSocketServer } from 'ws';
import { unpack } from 'msgpackr';
import { connect } from '../../client/index.js';
import { installVideoApp, seedIfEmpty, demoUsers } from '../../examples/video/app.js';
import { Video } from '../../examples/video/video.js';
import { Codec } from '../../protocol/codec.js';
import { FrameType } from '../../protocol/frames.js';
import { CapsyncServer, MemoryStore, silentLogger } from '../../server/index.js';
import { announceReady, ChildLink, serveRequests } from '../peers/ipc.js';
import { stallMeter } from '../stall.js';

/**
 * `npm run bench:fanout`: one write to a video held by `--holders` connections, for each server kind in
 * `--kinds` (interleaved over `--rounds`, medians):
 *
 * - `ws`: a raw `ws` server that sends the same push bytes to every socket in one loop (the baseline);
 * - `count`: capsync with slices of 256 holders per event-loop turn, with no time bound;
 * - `time`: capsync with slices of at most 256 holders or `--slice-ms` ms, whichever comes first (the default).
 *
 * For each: the longest event-loop stall in the server (the longest gap of a 1 ms timer) while the push goes
 * out, the time until the last holder had it, and a bystander's call latency (another process, one call in
 * flight all along) during the fan-outs against its latency between them. Holders are raw sockets in this
 * runner process; presence is off (every connect would otherwise announce itself to every holder: O(n^2)).
 */
const { values } = benchArgs('bench:fanout', {
  options: {
    role: { type: 'string', default: 'runner' }, kind: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' },
    holders: { type: 'string', default: '10000' }, kinds: { type: 'string', default: 'ws,count,time' }, 'slice-ms': { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' }, 'quiet-ms': { type: 'string', default: '1000' }, visits: { type: 'string', default: '2' }, json: { type: 'boolean', default: false }, profile: { type: 'string' },
  },
});
const SECRET = 'bench-fanout-secret-bench-fanout-secret-0123';
const SCRIPT = new URL(import.meta.url);
const VIDEO = 'dQw4w9WgXcQ';
type Kind = 'ws' | 'count' | 'time';

async function serveCapsync(kind: 'count' | 'time'): Promise<void> {
  const slices = kind === 'count' ? { pushSliceSize: 256, pushSliceMs: Infinity } : { pushSliceMs: Number(values['slice-ms']) };
  const server = await CapsyncServer.create({
    auth: { secret: SECRET }, devUsers: demoUsers, store: new MemoryStore(), logger: silentLogger, heartbeatMs: 600_000, presence: 'none', ...slices,
  });
  installVideoApp(server);
  server.callable('bench_echo', () => null);
  await seedIfEmpty(server);
  await server.listen(0, '127.0.0.1');
  const stall = stallMeter();
  serveRequests({
    tokens: (n: number) => Promise.all(Array.from({ length: n }, (_, i) => server.auth.issue({ id: `holder-${i}`, roles: ['editor'] }))),
    write: async (description: string) => {
      const video = (await server.live.get(Video, ['youtube_videos', VIDEO]))!;
      video.description = description;
      stall.reset();
      await server.live.put(video);
      return null;
    },
    stall: () => stall.longest(),
  });
  announceReady({ url: server.url });
}

/** The baseline: a raw ws server; a write sends one push-shaped frame to every socket in one loop (ws's broadcast). */
async function serveWs(): Promise<void> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  const codec = new Codec();
  let version = 1;
  const stall = stallMeter();
  serveRequests({
    tokens: (n: number) => Array.from({ length: n }, () => ''),
    write: (description: string) => {
      const bytes = codec.encode([FrameType.push, ['youtube_videos', VIDEO], 'Video', ++version, { id: VIDEO, title: 'Never Gonna Give You Up', description, version }, version]);
      stall.reset();
      for (const ws of wss.clients) ws.send(bytes);
      return null;
    },
    stall: () => stall.longest(),
  });
  announceReady({ url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}` });
}

/** A holder: a raw socket that called get_my_videos (so it holds the videos) and waits for pushes. */
function holder(kind: Kind, url: string, token: string, onPush: (description: string) => void): Promise<WebSocket> {
  const codec = new Codec();
  return new Promise((resolve, reject) => {
    const ws = kind === 'ws'
      ? new WebSocket(url, { perMessageDeflate: false })
      : new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('error', reject);
    if (kind === 'ws') ws.once('open', () => resolve(ws));
    ws.on('message', (data: Buffer) => {
      const frame = rawFrame(data);
      if (frame[0] === FrameType.hello) ws.send(codec.encode([FrameType.call, 1, 'get_my_videos', []]));
      else if (frame[0] === FrameType.result || frame[0] === FrameType.error) resolve(ws);
      else if (frame[0] === FrameType.push) onPush(String((frame[4] as { description?: unknown } | null)?.description));
    });
  });
}

// Results carry portable Videos the runner has not registered: only the frame type and a push's state matter.
function rawFrame(data: Buffer): unknown[] {
  try {
    return unpack(data) as unknown[];
  } catch {
    return [data[1]]; // a fixarray whose first element is the frame type
  }
}

/** The bystander process: one call in flight from `start` to `stop`; each call's start (epoch ms) and latency. */
function bystander(): void {
  let running: Promise<[number, number][]> | undefined;
  let stop = false;
  serveRequests({
    start: async ({ url, token }: { url: string; token: string }) => {
      const client = await connect(url, { token, reconnect: false });
      stop = false;
      running = (async () => {
        const samples: [number, number][] = [];
        while (!stop) {
          const t = performance.now();
          await client.call('bench_echo');
          samples.push([performance.timeOrigin + t, performance.now() - t]);
        }
        await client.close();
        return samples;
      })();
      return null;
    },
    stop: async () => ((stop = true), await running),
  });
  announceReady(null);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

interface Row { kind: Kind; stallMs: number[]; stallCpuMs: number[]; lastMs: number[]; during: number[]; between: number[] }

/** One server of `kind` with `n` holders (and a bystander for capsync): `rounds` writes. */
async function measure(kind: Kind, n: number, rounds: number, row: Row): Promise<void> {
  const server = ChildLink.fork(`${kind} server`, SCRIPT, {
    args: ['--role', 'server', '--kind', kind, '--slice-ms', values['slice-ms']],
    // --profile DIR: a CPU profile of each server child (written when it exits).
    execArgv: values.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', values.profile],
  });
  const side = kind === 'ws' ? undefined : ChildLink.fork('bystander', SCRIPT, { args: ['--role', 'bystander'] });
  const sockets: WebSocket[] = [];
  try {
    const { url } = await server.ready<{ url: string }>();
    const tokens = await server.request<string[]>('tokens', n);
    let waiting: { description: string; left: number; done: () => void } | undefined;
    const onPush = (description: string) => {
      if (waiting !== undefined && description === waiting.description && --waiting.left === 0) waiting.done();
    };
    for (let i = 0; i < n; i += 200) sockets.push(...(await Promise.all(tokens.slice(i, i + 200).map((t) => holder(kind, url, t, onPush)))));
    if (side !== undefined) {
      await side.ready();
      await side.request('start', { url, token: await server.request<string[]>('tokens', 1).then(([t]) => t) });
    }
    const windows: [number, number][] = [];
    // Round -1 warms the server up (its first push runs cold code) and is not counted.
    for (let round = -1; round < rounds; round++) {
      // A quiet second first (--quiet-ms): the bystander's "between" samples, nothing left of the previous round.
      await new Promise((resolve) => setTimeout(resolve, Number(values['quiet-ms'])));
      const description = `${kind} round ${round} ${Math.random()}`;
      const all = new Promise<void>((done) => (waiting = { description, left: n, done }));
      const start = performance.now();
      await server.request('write', description);
      await all;
      const end = performance.now();
      if (round >= 0) windows.push([performance.timeOrigin + start, performance.timeOrigin + end]);
      const stall = await server.request<{ wallMs: number; cpuMs: number }>('stall');
      if (round < 0) continue;
      row.lastMs.push(end - start);
      row.stallMs.push(stall.wallMs);
      row.stallCpuMs.push(stall.cpuMs);
    }
    if (side !== undefined) {
      const samples = await side.request<[number, number][]>('stop');
      for (const [at, ms] of samples) {
        const overlaps = windows.some(([a, b]) => at < b && at + ms > a);
        (overlaps ? row.during : row.between).push(ms);
      }
    }
  } finally {
    for (const ws of sockets) ws.terminate();
    await side?.stop();
    await server.stop();
  }
}

async function runner(): Promise<void> {
  const n = Number(values.holders);
  const kinds = values.kinds.split(',') as Kind[];
  const rows = new Map<Kind, Row>(kinds.map((kind) => [kind, { kind, stallMs: [], stallCpuMs: [], lastMs: [], during: [], between: [] }]));
  // Each kind in its own server with its own holders; rounds interleaved in pairs, so the machine's load falls on each alike.
  const rounds = Number(values.rounds);
  // --visits: how many times each kind's server is started (its holders connected anew) over the rounds.
  const perVisit = Math.max(1, Math.ceil(rounds / Math.max(1, Number(values.visits))));
  for (let done = 0; done < rounds; done += perVisit) {
    for (const kind of kinds) await measure(kind, n, Math.min(perVisit, rounds - done), rows.get(kind)!);
  }
  const report = [...rows.values()].map((r) => ({
    kind: r.kind, holders: n, rounds: r.lastMs.length, maxStallMs: median(r.stallMs), worstStallMs: Math.max(...r.stallMs), maxStallCpuMs: median(r.stallCpuMs), worstStallCpuMs: Math.max(...r.stallCpuMs), lastDeliveryMs: median(r.lastMs),
    bystanderP99DuringMs: quantile(r.during, 0.99), bystanderP99BetweenMs: quantile(r.between, 0.99), bystanderCallsDuring: r.during.length,
  }));
  if (values.json) return console.log(JSON.stringify(report));
  const base = report.find((r) => r.kind === 'ws');
  const label: Record<Kind, string> = { ws: 'raw ws broadcast', count: 'capsync, 256/slice', time: `capsync, 256 or ${values['slice-ms']} ms` };
  console.log(`one write to a video held by ${n} connections (medians of ${rounds} rounds):`);
  for (const r of report) {
    const ratio = base === undefined || r.kind === 'ws' ? '' : ` (${(r.lastDeliveryMs / base.lastDeliveryMs).toFixed(2)}x raw ws)`;
    const by = r.kind === 'ws' ? '' : `; bystander p99 ${r.bystanderP99DuringMs.toFixed(1)} ms during (${r.bystanderCallsDuring} calls), ${r.bystanderP99BetweenMs.toFixed(1)} ms between`;
    console.log(`  ${label[r.kind].padEnd(22)} stall ${r.maxStallMs.toFixed(1)} ms wall / ${r.maxStallCpuMs.toFixed(1)} ms CPU (worst ${r.worstStallMs.toFixed(1)} / ${r.worstStallCpuMs.toFixed(1)}), last holder after ${r.lastDeliveryMs.toFixed(0)} ms${ratio}${by}`);
  }
}

if (values.role === 'server') await (values.kind === 'ws' ? serveWs() : serveCapsync(values.kind as 'count' | 'time'));
else if (values.role === 'bystander') bystander();
else await runner();
