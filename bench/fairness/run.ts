import { setPriority } from 'node:os';
import { benchArgs } from '../args.js';
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
 * alone, beside a connection that floods the server with valid calls as fast as its socket takes them, and
 * beside a neighbour whose calls are cheap to start and slow, and costly, to finish (`slow_work`: it awaits
 * `--slow-wait` ms, then holds the event loop for `--slow-burn` ms; the neighbour keeps `--slow-calls`
 * of them outstanding, more than `maxInFlight`, so the server holds the rest), and beside one user flooding
 * from `--user-sockets` connections at once (each as the flooder: fair service per user holds them together
 * to one user's budget; `--user-budget off` leaves each connection only its own). Server, good client,
 * flooder, neighbour and the many-socket user each run in their own process; `--rounds` interleaved
 * rounds, medians.
 *
 * The flooder's process runs at `--flooder-nice` (default 19, the lowest priority): on a 2-core machine a
 * flooder at normal priority takes a core for itself, and no server budget can give that core back to the
 * good client. Niced, it still sends as fast as the server reads, but the measure is what the server
 * does with its own time. `--flooder-nice 0` shows the unfair machine.
 */
const { values } = benchArgs('bench:fairness', {
  options: {
    role: { type: 'string', default: 'runner' }, url: { type: 'string' }, token: { type: 'string' },
    seconds: { type: 'string', default: '3' }, budget: { type: 'string' }, 'flooder-nice': { type: 'string', default: '19' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false },
    'user-sockets': { type: 'string', default: '16' }, 'user-budget': { type: 'string', default: 'on' }, 'in-flight-ms': { type: 'string' },
    'slow-wait': { type: 'string', default: '5' }, 'slow-burn': { type: 'string', default: '2' }, 'slow-calls': { type: 'string', default: '256' },
  },
});
const SECRET = 'bench-fairness-secret-bench-fairness-secret';
const SCRIPT = new URL(import.meta.url);

async function serve(): Promise<void> {
  // --budget N: frames/s per connection (and per user) instead of the default (`--budget 1e9` is the server without
  const n = Number(values.budget);
  // fair service: no frame budget, no CPU budget). `--user-budget off`: no budget per user (each connection its own only).
  const budget =
    values.budget === undefined ? {}
    : n >= 1e9 ? { callsPerSecond: n, callBurst: 2 * n, serviceMsPerSecond: Infinity, userCallsPerSecond: Infinity, userServiceMsPerSecond: Infinity }
    : { callsPerSecond: n, callBurst: 2 * n, userCallsPerSecond: n, userCallBurst: 2 * n };
  const perUser = values['user-budget'] === 'off' ? { userCallsPerSecond: Infinity, userServiceMsPerSecond: Infinity } : {};
  // --in-flight-ms N: maxInFlightMs instead of the default.
  const inFlight = values['in-flight-ms'] === undefined ? {} : { maxInFlightMs: Number(values['in-flight-ms']) };
  const server = await CapsyncServer.create({ auth: { secret: SECRET }, devUsers: demoUsers, store: new MemoryStore(), logger: silentLogger, connection: { ...budget, ...perUser, ...inFlight } });
  installVideoApp(server);
  const waitMs = Number(values['slow-wait']);
  const burnMs = Number(values['slow-burn']);
  server.callable('slow_work', async () => {
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    const end = performance.now() + burnMs;
    while (performance.now() < end);
    return 1;
  });
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

/**
 * Valid calls as fast as each of `sockets` connections (one user's) takes them, for `ms`; how many were sent
 * and answered, and how the sockets ended (the close codes, one per socket, joined).
 */
async function flood({ url, token, ms, sockets = 1 }: { url: string; token: string; ms: number; sockets?: number }) {
  const codec = new Codec();
  let sent = 0;
  let answered = 0;
  const codes: (number | null)[] = [];
  const all = await Promise.all(
    Array.from({ length: sockets }, async (_, k) => {
      const ws = new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      codes[k] = null;
      ws.on('message', (data: Buffer) => (codec.decode(data) as unknown[])[0] === FrameType.result && answered++);
      const closed = new Promise<void>((resolve) => ws.once('close', (code) => ((codes[k] = code), resolve())));
      return { ws, closed };
    }),
  );
  const end = performance.now() + ms;
  await new Promise<void>((resolve) => {
    const step = () => {
      if (performance.now() >= end || all.every(({ ws }) => ws.readyState !== ws.OPEN)) return resolve();
      for (const { ws } of all) {
        for (let i = 0; i < 200 && ws.readyState === ws.OPEN && ws.bufferedAmount < 1024 * 1024; i++) ws.send(codec.encode([FrameType.call, sent++ % 1_000_000, 'get_my_videos', []]));
      }
      setImmediate(step);
    };
    step();
  });
  const answeredInTime = answered;
  for (const { ws } of all) if (ws.readyState === ws.OPEN) ws.terminate();
  await Promise.all(all.map(({ closed }) => closed));
  const counts = new Map<number | null, number>();
  for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1);
  const closeCode = [...counts].map(([code, n]) => (sockets === 1 ? `${code}` : `${n}x ${code}`)).join(', ');
  return { sent, answered: answeredInTime, closeCode };
}

/** `calls` slow calls outstanding for `ms` (each answer sends the next); how many were answered, how many refused, how the socket ended. */
async function neighbour({ url, token, ms, calls }: { url: string; token: string; ms: number; calls: number }) {
  const ws = new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const codec = new Codec();
  let next = 0;
  let answered = 0;
  let refused = 0;
  let closeCode: number | null = null;
  const closed = new Promise<void>((resolve) => ws.once('close', (code) => ((closeCode = code), resolve())));
  const end = performance.now() + ms;
  const send = () => {
    if (performance.now() < end && ws.readyState === ws.OPEN) ws.send(codec.encode([FrameType.call, next++ % 1_000_000, 'slow_work', []]));
  };
  ws.on('message', (data: Buffer) => {
    const frame = codec.decode(data) as unknown[];
    if (frame[0] === FrameType.result) answered++;
    else if (frame[0] === FrameType.error && frame[1] !== null) refused++;
    else return;
    send();
  });
  for (let i = 0; i < calls; i++) send();
  await new Promise((resolve) => setTimeout(resolve, ms));
  if (ws.readyState === ws.OPEN) ws.terminate();
  await closed;
  return { answered, refused, closeCode };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function runner(): Promise<void> {
  const ms = Number(values.seconds) * 1000;
  const server = ChildLink.fork('server', SCRIPT, { args: ['--role', 'server', '--user-budget', values['user-budget']!, ...(values['in-flight-ms'] === undefined ? [] : ['--in-flight-ms', values['in-flight-ms']]), ...(values.budget === undefined ? [] : ['--budget', values.budget])] });
  const { url } = await server.ready<{ url: string }>();
  const alone: Awaited<ReturnType<typeof good>>[] = [];
  const flooded: Awaited<ReturnType<typeof good>>[] = [];
  const floods: Awaited<ReturnType<typeof flood>>[] = [];
  const slowed: Awaited<ReturnType<typeof good>>[] = [];
  const neighbours: Awaited<ReturnType<typeof neighbour>>[] = [];
  const crowded: Awaited<ReturnType<typeof good>>[] = [];
  const crowds: Awaited<ReturnType<typeof flood>>[] = [];
  const sockets = Number(values['user-sockets']);
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
      const slowChild = ChildLink.fork('neighbour', SCRIPT, { args: ['--role', 'worker'] });
      await slowChild.ready();
      const slowing = slowChild.request<Awaited<ReturnType<typeof neighbour>>>('neighbour', { url, token: await server.request<string>('token', 'editor'), ms: ms + 1000, calls: Number(values['slow-calls']) });
      slowed.push(await goodChild.request('good', { url, token: await server.request<string>('token', 'admin'), ms }));
      neighbours.push(await slowing);
      const crowdChild = ChildLink.fork('many-socket user', SCRIPT, { args: ['--role', 'worker'] });
      await crowdChild.ready();
      if (crowdChild.child.pid !== undefined) setPriority(crowdChild.child.pid, Number(values['flooder-nice']));
      // `flood` opens its sockets before its clock starts: the good client begins once they are open or shortly after.
      const crowding = crowdChild.request<Awaited<ReturnType<typeof flood>>>('flood', { url, token: await server.request<string>('token', 'editor'), ms: ms + 1000, sockets });
      crowded.push(await goodChild.request('good', { url, token: await server.request<string>('token', 'admin'), ms }));
      crowds.push(await crowding);
      await Promise.all([goodChild.stop(), floodChild.stop(), slowChild.stop(), crowdChild.stop()]);
    }
  } finally {
    await server.stop();
  }
  const row = (rs: Awaited<ReturnType<typeof good>>[]) => ({
    callsPerSecond: median(rs.map((r) => r.callsPerSecond)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), max: median(rs.map((r) => r.max)),
  });
  const report = { alone: row(alone), flooded: row(flooded), floods, slowed: row(slowed), neighbours, crowded: row(crowded), crowds };
  if (values.json) return console.log(JSON.stringify(report));
  console.log(`good client, one call in flight, ${values.seconds} s x ${values.rounds} rounds (medians), flooder at nice ${values['flooder-nice']}:`);
  const line = (r: ReturnType<typeof row>) => `${r.callsPerSecond} calls/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms`;
  const floodSeconds = (ms + 1000) / 1000;
  console.log(`  alone:            ${line(report.alone)}`);
  console.log(`  beside a flooder: ${line(report.flooded)}`);
  console.log(`  kept ${((100 * report.flooded.callsPerSecond) / report.alone.callsPerSecond).toFixed(0)}% of its throughput`);
  console.log(`flooder: ${floods.map((f) => `${f.sent} calls sent, ${Math.round(f.answered / floodSeconds)} answered/s, socket ended ${f.closeCode}`).join('; ')}`);
  console.log(`  beside a neighbour with ${values['slow-calls']} slow calls outstanding (${values['slow-wait']} ms awaited, then ${values['slow-burn']} ms of the loop each):`);
  console.log(`                    ${line(report.slowed)}`);
  console.log(`neighbour: ${neighbours.map((n) => `${n.answered} answered, ${n.refused} refused, socket ended ${n.closeCode}`).join('; ')}`);
  console.log(`  beside one user flooding from ${sockets} connections (user budget ${values['user-budget']}):`);
  console.log(`                    ${line(report.crowded)}`);
  console.log(`that user: ${crowds.map((f) => `${f.sent} calls sent, ${Math.round(f.answered / floodSeconds)} answered/s, sockets ended ${f.closeCode}`).join('; ')}`);
}

if (values.role === 'server') await serve();
else if (values.role === 'worker') {
  serveRequests({ good, flood, neighbour });
  announceReady(null);
} else await runner();
