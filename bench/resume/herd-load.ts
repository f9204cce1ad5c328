import type { CapsyncClient } from '../../client/index.js';
import type { Authenticator } from '../../server/auth.js';
import type { Handlers } from '../peers/ipc.js';
import { now } from '../peers/clock.js';
import { Card, folderName, type Holdings } from './item.js';
import { Tap } from './socket.js';

/** One herd client: default reconnect options (full jitter, 0.5 s base), one capability over its group's cards. */
interface Member {
  readonly client: CapsyncClient;
  readonly tap: Tap;
  readonly folder: string;
  /** Kept, as an app keeps what it shows: the client holds capabilities weakly, and presents only live ones. */
  readonly holdings: Holdings;
  /** Push frames on the current socket. */
  pushes: number;
  down: boolean;
  droppedAt: number;
  resumedAt: number;
  statesAtResume: number;
  dialsAtArm: number;
  dialsAtResume: number;
}

/** What a load process saw of one herd: times on the shared monotonic clock. */
export interface HerdResult {
  readonly clients: number;
  readonly resumed: number;
  readonly gaveUp: number;
  readonly firstError: string | null;
  readonly droppedAt: number[];
  readonly resumedAt: number[];
  /** How many clients had n states on the socket that resumed them: `{"1": 5000}`. */
  readonly states: Record<string, number>;
  /** How many clients needed n dials to get back. */
  readonly dials: Record<string, number>;
  /** Sockets that ended during the herd, by whether they had opened and their close code: `{"never opened": 9000, "opened 4000": 12}`. */
  readonly closes: Record<string, number>;
  readonly loadCpuSeconds: number;
}

const tally = (values: number[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
};

/** The herd's commands for the load child: connect clients, arm, wait until every one has resumed, verify. */
export function herdHandlers(auth: Authenticator): Handlers {
  const members: Member[] = [];
  let resumed = 0;
  let gaveUp = 0;
  let firstError: string | null = null;
  let armed = false;
  let cpuAtArm = process.cpuUsage();
  let settle: (() => void) | undefined;
  let closes: Record<string, number> = {};
  const check = (): void => {
    if (armed && resumed + gaveUp >= members.length) settle?.();
  };

  const join = async (url: string, index: number, groups: number): Promise<void> => {
    const tap = new Tap();
    const client = await tap.connect(url, { token: await auth.issue({ id: `herd-${index}`, roles: [] }), callTimeoutMs: 60_000 });
    const holdings = await client.call<Holdings>('join_group', index % groups);
    const member: Member = {
      client, tap, folder: folderName('g', index % groups), holdings,
      pushes: 0, down: false, droppedAt: 0, resumedAt: 0, statesAtResume: 0, dialsAtArm: 0, dialsAtResume: 0,
    };
    tap.onOpen = () => (member.pushes = 0);
    tap.onClose = (opened, code) => {
      if (!armed) return;
      const what = opened ? `opened ${code}` : 'never opened';
      closes[what] = (closes[what] ?? 0) + 1;
    };
    client.frames.subscribe((frame) => {
      if (frame[0] === 4) member.pushes++;
    });
    client.connectionState.subscribe((state) => {
      if (!armed) return;
      if (state === 'reconnecting' && !member.down) {
        member.down = true;
        member.droppedAt = now();
      } else if (state === 'connected' && member.down) {
        member.down = false;
        member.resumedAt = now();
        member.statesAtResume = member.pushes;
        member.dialsAtResume = tap.dials - member.dialsAtArm;
        resumed++;
        check();
      } else if (state === 'closed') {
        gaveUp++;
        firstError ??= `closed ${client.lastClose?.code ?? '?'} ${client.lastClose?.reason ?? ''}`;
        check();
      }
    });
    members.push(member);
  };

  return {
    'herd-connect': async ({ url, count, firstIndex, concurrency, groups }: { url: string; count: number; firstIndex: number; concurrency: number; groups: number }) => {
      let next = 0;
      let failed = 0;
      const worker = async (): Promise<void> => {
        while (next < count) {
          const index = firstIndex + next++;
          try {
            await join(url, index, groups);
          } catch (error) {
            failed++;
            firstError ??= (error as Error).message;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      return { connected: members.length, failed, firstError };
    },
    'herd-arm': () => {
      resumed = 0;
      gaveUp = members.filter((m) => m.client.connectionState.value === 'closed').length;
      for (const m of members) Object.assign(m, { down: false, droppedAt: 0, resumedAt: 0, statesAtResume: 0, dialsAtArm: m.tap.dials });
      cpuAtArm = process.cpuUsage();
      closes = {};
      armed = true;
      return null;
    },
    /** Resolves once every client has resumed or given up (`timeoutMs` bounds a herd that never ends). */
    'herd-await': async ({ timeoutMs }: { timeoutMs: number }): Promise<HerdResult> => {
      const done = new Promise<void>((resolve) => (settle = resolve));
      check();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      armed = false;
      const back = members.filter((m) => m.resumedAt > 0);
      const cpu = process.cpuUsage(cpuAtArm);
      return {
        clients: members.length, resumed: back.length, gaveUp, firstError,
        droppedAt: members.filter((m) => m.droppedAt > 0).map((m) => m.droppedAt),
        resumedAt: back.map((m) => m.resumedAt),
        states: tally(back.map((m) => m.statesAtResume)),
        dials: tally(back.map((m) => m.dialsAtResume)),
        closes,
        loadCpuSeconds: (cpu.user + cpu.system) / 1e6,
      };
    },
    /** Clients whose cards do not all have the server's latest versions. */
    'herd-verify': ({ versions }: { versions: [string, number[]][] }) => {
      const latest = new Map(versions);
      return members.filter((m) => m.holdings.cards.some((card, i) => !(card instanceof Card) || card.version !== latest.get(m.folder)?.[i])).length;
    },
  };
}
