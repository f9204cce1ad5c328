import { benchArgs } from '../args.js';
import { WebSocket } from 'ws';
import { connect } from '../../client/index.js';
// The demo's portable class, so the client can decode the videos it is sent.
import '../../examples/video/video.js';
import { ChildLink } from '../peers/ipc.js';
import { growth, lines, perUnit, type Census } from './census.js';

/**
 * `npm run bench:memory`: what the server keeps per held capability and per idle connection, measured in a
 * server child after full collections (`--expose-gc`), each beside a baseline from the same run.
 *
 * - held: one editor calls `get_my_videos` until the connection holds `--held` capabilities (1,000, then
 *   10,000 by default); bytes per held capability = (heap + ArrayBuffers after) - (before), over the count.
 *   The demo has three videos, so these are many capabilities of few objects (`--distinct`: each one of an
 *   object of its own, so no two share a scope; `--expiring`: each expires, with its deadline).
 * - idle: `--connections` authenticated connections that do nothing, against a raw `ws` server's.
 * - close: what RSS stays after those connections closed, wave after wave (`--waves`).
 */
const { values } = benchArgs('bench:memory', {
  options: {
    held: { type: 'string', default: '1000,10000' },
    connections: { type: 'string', default: '10000' },
    waves: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
    census: { type: 'boolean', default: false },
    // Held capabilities that expire (an hour away), each with its deadline.
    expiring: { type: 'boolean', default: false },
    // Held capabilities of distinct objects (a fresh id each): no two share a scope.
    distinct: { type: 'boolean', default: false },
    // With --census: closures named by script and line, plain objects by the edge that retains them.
    'census-detail': { type: 'boolean', default: false },
    // How many kinds the idle census lists (the biggest first).
    'census-top': { type: 'string', default: '25' },
  },
});
const heldCounts = values.held.split(',').map(Number);
const connections = Number(values.connections);
const waves = Number(values.waves);
type Memory = { heapUsed: number; arrayBuffers: number; external: number; rss: number };
const CHILD = new URL('./child.js', import.meta.url);

async function child(mode: 'capsync' | 'ws'): Promise<{ link: ChildLink; port: number }> {
  const link = ChildLink.fork(`${mode} server`, CHILD, { args: ['--mode', mode], execArgv: ['--expose-gc'] });
  const { port } = await link.ready<{ port: number }>();
  return { link, port: Number(port) };
}

/** Bytes per held capability (heap and ArrayBuffers) at each count, on one connection. */
async function measureHeld(counts: readonly number[]): Promise<{ held: number; heapPerCap: number; arrayBuffersPerCap: number; totalPerCap: number }[]> {
  const { link, port } = await child('capsync');
  try {
    const client = await connect(`ws://127.0.0.1:${port}`, { token: await link.request<string>('token', 'editor') });
    try {
      const fn = values.distinct ? (values.expiring ? 'bench_distinct_expiring' : 'bench_distinct') : values.expiring ? 'bench_expiring_videos' : 'get_my_videos';
      let held = (await client.call<unknown[]>(fn)).length;
      const before = await link.request<Memory>('memory');
      const censusBefore = values.census ? await link.request<Census>('census', values['census-detail']) : undefined;
      const rows = [];
      for (const target of counts) {
        while (held < target) held += (await client.call<unknown[]>(fn)).length;
        const after = await link.request<Memory>('memory');
        const heap = (after.heapUsed - before.heapUsed) / held;
        const buffers = (after.arrayBuffers - before.arrayBuffers) / held;
        rows.push({ held, heapPerCap: Math.round(heap), arrayBuffersPerCap: Math.round(buffers), totalPerCap: Math.round(heap + buffers) });
      }
      if (censusBefore !== undefined) {
        console.log(`heap growth per held capability, by kind (${held} held):`);
        for (const line of growth(censusBefore, await link.request<Census>('census', values['census-detail']), held, Number(values['census-top']))) console.log(`  ${line}`);
      }
      return rows;
    } finally {
      await client.close();
    }
  } finally {
    await link.stop();
  }
}

/** Opens a socket; for capsync, resolves once hello arrived (the session exists). */
function open(url: string, token: string | undefined): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === undefined ? [] : ['capsync.v1'], {
      perMessageDeflate: false, headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    ws.once('error', reject);
    // A capsync server's first frame is hello: the session exists once it arrived.
    if (token === undefined) ws.once('open', () => resolve(ws));
    else ws.once('message', () => resolve(ws));
  });
}

/** Polls the child until `check` holds; fails after 120 s rather than hang (a refused connection never counts). */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the server child never reached the expected connection count');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Per idle connection by kind, with `--census` (raw ws's too with `--census-detail`). */
const grown: { ws?: Census; capsync?: Census } = {};

/** Heap per idle connection and RSS after closing, for one server kind. */
async function measureIdle(mode: 'capsync' | 'ws', n: number, waveCount: number) {
  const { link, port } = await child(mode);
  try {
    const tokens = mode === 'capsync' ? await link.request<string[]>('tokens', n) : undefined;
    const start = await link.request<Memory>('memory');
    const censusBefore = values.census && (mode === 'capsync' || values['census-detail']) ? await link.request<Census>('census', values['census-detail']) : undefined;
    let heapPerConnection = 0;
    const rssAfterClose: number[] = [];
    let rssOpen = 0;
    for (let wave = 0; wave < waveCount; wave++) {
      const sockets: WebSocket[] = [];
      for (let i = 0; i < n; i += 200) {
        sockets.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, j) => open(`ws://127.0.0.1:${port}`, tokens?.[i + j])))));
      }
      await until(async () => (await link.request<number>('connections')) === n);
      const opened = await link.request<Memory>('memory');
      if (wave === 0) heapPerConnection = Math.round((opened.heapUsed - start.heapUsed) / n);
      if (wave === 0 && censusBefore !== undefined) {
        const mine = perUnit(censusBefore, await link.request<Census>('census', values['census-detail']), n);
        grown[mode] = mine;
        if (mode === 'capsync') {
          console.log(`heap growth per idle capsync connection, by kind (${n} open):`);
          for (const line of lines(mine, Number(values['census-top']))) console.log(`  ${line}`);
        }
        if (mode === 'capsync' && grown.ws !== undefined) {
          const beyond: Census = {};
          for (const key of new Set([...Object.keys(mine), ...Object.keys(grown.ws)])) {
            const [c, b] = mine[key] ?? [0, 0];
            const [wc, wb] = grown.ws[key] ?? [0, 0];
            beyond[key] = [c - wc, b - wb];
          }
          console.log(`what an idle capsync connection keeps beyond a raw ws one, by kind (${n} open):`);
          for (const line of lines(beyond, Number(values['census-top']))) console.log(`  ${line}`);
        }
      }
      rssOpen = Math.max(rssOpen, opened.rss);
      for (const ws of sockets) ws.close();
      await until(async () => (await link.request<number>('connections')) === 0);
      rssAfterClose.push((await link.request<Memory>('memory')).rss);
    }
    return { mode, connections: n, heapPerConnection, rssStart: start.rss, rssOpen, rssAfterClose };
  } finally {
    await link.stop();
  }
}

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const held = await measureHeld(heldCounts);
  const idle = [await measureIdle('ws', connections, waves), await measureIdle('capsync', connections, waves)];
  if (values.json) {
    console.log(JSON.stringify({ held, idle }));
    return;
  }
  console.log('bytes per held capability (server child, after GC):');
  for (const r of held) console.log(`  ${String(r.held).padStart(6)} held: heap ${r.heapPerCap} B + ArrayBuffers ${r.arrayBuffersPerCap} B = ${r.totalPerCap} B`);
  console.log(`heap per idle connection at ${connections} connections (after GC):`);
  const [ws, cs] = idle as [Awaited<ReturnType<typeof measureIdle>>, Awaited<ReturnType<typeof measureIdle>>];
  console.log(`  raw ws ${ws.heapPerConnection} B   capsync ${cs.heapPerConnection} B   ratio ${(cs.heapPerConnection / ws.heapPerConnection).toFixed(2)}x`);
  console.log('RSS: start / peak open / after each wave closed:');
  for (const r of idle) console.log(`  ${r.mode.padEnd(8)} ${MiB(r.rssStart)} / ${MiB(r.rssOpen)} / ${r.rssAfterClose.map(MiB).join(', ')}`);
}

await main();
