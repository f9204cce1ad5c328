import { performance } from 'node:perf_hooks';
import { unpack } from 'msgpackr';
import { WebSocket } from 'ws';
import { connect } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { Codec } from '../../protocol/codec.js';
import { FrameType } from '../../protocol/frames.js';
import { Authenticator } from '../../server/auth.js';
import type { ChildLink } from '../peers/ipc.js';
import { killAll, SECRET, startNode, whenFresh } from './calls.js';
import { percentiles } from './inprocess.js';

/** One fan-out figure: a write's push to `holders` connections spread over `nodes` node processes. */
export interface FanoutFigure {
  readonly nodes: number;
  readonly holders: number;
  /** Per round, from the write call to the last holder's push (ms): medians over the rounds. */
  readonly lastHolder: number;
  /** Arrival times of every holder's push, all rounds together (ms after the write was sent). */
  readonly arrivals: ReturnType<typeof percentiles>;
  /** Pushes that never arrived (within 10 s of each write): holders × rounds minus arrivals. */
  readonly missed: number;
  /**
   * Per node (medians over the rounds): when its last holder had the push (ms after the write was sent), and
   * its longest event-loop stall from the write until every holder had it (wall and CPU ms; worst round too).
   */
  readonly perNode: { readonly lastHolder: number; readonly stallMs: number; readonly stallCpuMs: number; readonly worstStallMs: number }[];
}

/** A raw holder's socket, and a call of get_my_videos again (holding afresh). */
export interface Holder {
  readonly ws: WebSocket;
  hold(): Promise<void>;
}

/** A raw holder: a socket that called get_my_videos (it then holds the demo's videos) and reports pushes. */
export function holder(url: string, token: string, onPush: (description: string) => void): Promise<Holder> {
  const codec = new Codec();
  let refusals = 0;
  let held: (() => void) | undefined;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('error', reject);
    ws.on('message', (data: Buffer) => {
      // Results carry portable Videos this process need not decode: the frame type and a push's state suffice.
      let frame: unknown[];
      try {
        frame = unpack(data) as unknown[];
      } catch {
        frame = [data[1]];
      }
      if (frame[0] === FrameType.hello) ws.send(codec.encode([FrameType.call, 1, 'get_my_videos', []]));
      else if (frame[0] === FrameType.result && held !== undefined) (held(), (held = undefined));
      else if (frame[0] === FrameType.result) {
        resolve({
          ws,
          hold: () => new Promise<void>((done) => ((held = done), ws.send(codec.encode([FrameType.call, 2, 'get_my_videos', []])))),
        });
      }
      // A node whose revocation feed lags on a loaded machine refuses for a moment (ERR_REVOCATION_FEED_STALE): ask again.
      else if (frame[0] === FrameType.error && ++refusals < 50) setTimeout(() => ws.send(codec.encode([FrameType.call, 1, 'get_my_videos', []])), 100);
      else if (frame[0] === FrameType.error) reject(new Error(`get_my_videos refused: ${JSON.stringify(frame)}`));
      else if (frame[0] === FrameType.push) onPush(String((frame[4] as { description?: unknown } | null)?.description));
    });
  });
}

/**
 * Fan-out to `holders` connections spread round-robin over `nodes` node processes (`node.ts`: on Redis
 * when `redisUrl` is given, else one node on SQLite; presence off), `rounds` writes from a client on node 0.
 * Each node's stall meter is reset before each write and read once every holder has it.
 */
export async function fanoutTo(redisUrl: string | undefined, nodes: number, holders: number, rounds: number): Promise<FanoutFigure> {
  const links: ChildLink[] = [];
  const sockets: Holder[] = [];
  try {
    const urls: string[] = [];
    // One after the other: the first seeds the videos.
    for (let i = 0; i < nodes; i++) urls.push(await startNode(['--presence', 'none', ...(redisUrl ? ['--redis', redisUrl] : [])], links));
    const auth = new Authenticator({ secret: SECRET });
    // A user per holder: a user's connections are capped per node.
    const tokens = await Promise.all(Array.from({ length: holders }, (_, i) => auth.issue({ id: `holder-${i}`, roles: ['editor'] })));
    let waiting: { description: string; start: number; left: number; done: () => void } | undefined;
    const arrivals: number[] = [];
    const lastPerNode: number[][] = urls.map(() => []);
    const roundLast = urls.map(() => 0);
    const onPush = (node: number) => (description: string): void => {
      if (waiting === undefined || description !== waiting.description) return;
      const at = performance.now() - waiting.start;
      arrivals.push(at);
      roundLast[node] = Math.max(roundLast[node]!, at);
      if (--waiting.left === 0) waiting.done();
    };
    for (let i = 0; i < holders; i += 200) {
      sockets.push(...(await Promise.all(Array.from({ length: Math.min(200, holders - i) }, (_, k) => holder(urls[(i + k) % nodes]!, tokens[i + k]!, onPush((i + k) % nodes))))));
    }
    const writer = await connect(urls[0]!, { token: await auth.issue({ id: 'writer', roles: ['admin'] }) });
    const stalls: { wallMs: number; cpuMs: number }[][] = urls.map(() => []);
    try {
      const video = (await whenFresh(() => writer.call<Video[]>('get_my_videos')))[0]!;
      const lasts: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const description = `fan-out round ${round}`;
        roundLast.fill(0);
        await Promise.all(links.map((l) => l.request('reset')));
        const all = new Promise<void>((done) => (waiting = { description, start: performance.now(), left: holders, done }));
        await whenFresh(() => writer.call('set_video_description', video.cap, description));
        // A guard, not a synchronisation: the bench reports what arrived rather than hang.
        await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
        lasts.push(performance.now() - waiting!.start);
        const measured = await Promise.all(links.map((l) => l.request<{ wallMs: number; cpuMs: number }>('stall')));
        measured.forEach((m, i) => stalls[i]!.push(m));
        roundLast.forEach((t, i) => lastPerNode[i]!.push(t));
      }
      const last = percentiles(lasts).p50;
      const perNode = urls.map((_, i) => ({
        lastHolder: percentiles(lastPerNode[i]!).p50,
        stallMs: percentiles(stalls[i]!.map((x) => x.wallMs)).p50,
        stallCpuMs: percentiles(stalls[i]!.map((x) => x.cpuMs)).p50,
        worstStallMs: Math.round(Math.max(...stalls[i]!.map((x) => x.wallMs)) * 100) / 100,
      }));
      return { nodes, holders, lastHolder: last, arrivals: percentiles(arrivals), missed: holders * rounds - arrivals.length, perNode };
    } finally {
      await writer.close();
    }
  } finally {
    for (const h of sockets) h.ws.terminate();
    await killAll(links);
  }
}
