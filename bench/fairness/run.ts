import { setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { connect } from '../../client/index.js';
import { installVideoApp, seedIfEmpty, demoUsers } from '../../examples/video/app.js';
import '../../examples/video/video.js';
import { Codec } from '../../protocol/codec.js';
import { FrameType } from '../../protocol/frames.js';
import { CapsyncServer, MemoryStore, silentLogger } from '../../server/index.js';
import { announceReady, ChildLink, serveRequests } from '../peers/ipc.js';

/**
 * `npm run bench:fairness`: a well-behaved client's calls/s and p99 (one call in flight, `get_my_videos`),
 * alone and beside a connection that floods the server with valid calls as fast as its socket takes them.
 * Server, good client and flooder each run in their own process; `--rounds` interleaved pairs, medians.
 *
 * The flooder's process runs at `--flooder-nice` (default 19, the lowest priority): on a 2-core machine a
 * flooder at normal priority takes a core for itself, and no server budget can give that core back to the
 * good client. Niced, it still sends as fast as the server reads, but the measure is what the server
 * does with its own time. `--flooder-nice 0` shows the unfair machine.
 */
const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'runner' }, url: { type: 'string' }, token: { type: 'string' },
    seconds: { type: 'string', default: '3' }, budget: { type: 'string' }, 'flooder-nice': { type: 'string', default: '19' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false },
  },
});
const SECRET = 'bench-fairness-secret-bench-fairness-secret';
const SCRIPT = new URL(import.meta.url);

async function serve(): Promise<void> {
  // --budget N: frames/s per connection instead of the default (`--budget 1e9` is the server without fair
  // service: no frame budget, no CPU budget).
  const n = Number(values.budget);
  const budget = values.budget === undefined ? {} : n >= 1e9 ? { callsPerSecond: n, callBurst: 2 * n, serviceMsPerSecond: Infinity } : { callsPerSecond: n, callBurst: 2 * n };
  const server = await CapsyncServer.create({ auth: { secret: SECRET }, devUsers: demoUsers, store: new MemoryStore(), logger: silentLogger, connection: budget });
  installVideoApp(server);
  await seedIfEmpty(server);
  await server.listen(0, '127.0.0.1');
  serveRequests({ token: (user: string) => server.auth.issue(demoUsers[user as keyof typeof demoUsers]!) });
  announceReady({ url: server.url });
}

/** One call in flight for `ms`: calls/s and latency quantiles. */
async function good({ url, token, ms }: { url: string; token: string; ms: number }) {
  const client = await connect(url, { token, reconnect: false });
  const latencies: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    await client.call('get_my_videos');
    latencies.push(performance.now() - t);
  }
  await client.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { callsPerSecond: Math.round((latencies.length * 1000) / ms), p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1]! };
}

/** Valid calls as fast as the socket takes them, for `ms`; how many were sent and how the socket ended. */
async function flood({ url, token, ms }: { url: string; token: string; ms: number }) {
  const ws = new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const codec = new Codec();
  let sent = 0;
  let closeCode: number | null = null;
  const closed = new Promise<void>((resolve) => ws.once('close', (code) => ((closeCode = code), resolve())));
  const end = performance.now() + ms;
  await new Promise<void>((resolve) => {
    const step = () => {
      if (performance.now() >= end || ws.readyState !== ws.OPEN) return resolve();
      for (let i = 0; i < 200 && ws.bufferedAmount < 1024 * 1024; i++) ws.send(codec.encode([FrameType.call, sent++ % 1_000_000, 'get_my_videos', []]));
      setImmediate(step);
    };
    step();
  });
  if (ws.readyState === ws.OPEN) ws.terminate();
  await closed;
  return { sent, closeCode };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function runner(): Promise<void> {
  const ms = Number(values.seconds) * 1000;
  const server = ChildLink.fork('server', SCRIPT, { args: ['--role', 'server', ...(values.budget === undefined ? [] : ['--budget', values.budget])] });
  const { url } = await server.ready<{ url: string }>();
  const alone: Awaited<ReturnType<typeof good>>[] = [];
  const flooded: Awaited<ReturnType<typeof good>>[] = [];
  const floods: Awaited<ReturnType<typeof flood>>[] = [];
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      const goodChild = ChildLink.fork('good client', SCRIPT, { args: ['--role', 'worker'] });
      const floodChild = ChildLink.fork('flooder', SCRIPT, { args: ['--role', 'worker'] });
      await Promise.all([goodChild.ready(), floodChild.ready()]);
      if (floodChild.child.pid !== undefined) setPriority(floodChild.child.pid, Number(values['flooder-nice']));
      alone.push(await goodChild.request('good', { url, token: await server.request<string>('token', 'admin'), ms }));
      const flooding = floodChild.request<Awaited<ReturnType<typeof flood>>>('flood', { url, token: await server.request<string>('token', 'editor'), ms: ms + 1000 });
      flooded.push(await goodChild.request('good', { url, token: await server.request<string>('token', 'admin'), ms }));
      floods.push(await flooding);
      await Promise.all([goodChild.stop(), floodChild.stop()]);
    }
  } finally {
    await server.stop();
  }
  const row = (rs: Awaited<ReturnType<typeof good>>[]) => ({
    callsPerSecond: median(rs.map((r) => r.callsPerSecond)), p99: median(rs.map((r) => r.p99)), max: median(rs.map((r) => r.max)),
  });
  const report = { alone: row(alone), flooded: row(flooded), floods };
  if (values.json) return console.log(JSON.stringify(report));
  console.log(`good client, one call in flight, ${values.seconds} s x ${values.rounds} rounds (medians), flooder at nice ${values['flooder-nice']}:`);
  console.log(`  alone:            ${report.alone.callsPerSecond} calls/s, p99 ${report.alone.p99.toFixed(2)} ms, max ${report.alone.max.toFixed(1)} ms`);
  console.log(`  beside a flooder: ${report.flooded.callsPerSecond} calls/s, p99 ${report.flooded.p99.toFixed(2)} ms, max ${report.flooded.max.toFixed(1)} ms`);
  console.log(`  kept ${((100 * report.flooded.callsPerSecond) / report.alone.callsPerSecond).toFixed(0)}% of its throughput`);
  console.log(`flooder: ${floods.map((f) => `${f.sent} calls sent, socket ended ${f.closeCode}`).join('; ')}`);
}

if (values.role === 'server') await serve();
else if (values.role === 'worker') {
  serveRequests({ good, flood });
  announceReady(null);
} else await runner();
