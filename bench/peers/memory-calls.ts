import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * CPU per call of the real capsync server and client over the in-memory transport (`testing/`): no sockets
 * and no fair-service clock, so the figure is the library's own work per call and moves far less with the
 * machine's load than `bench:peers`' calls/s. 50 clients, each holding 100 capabilities, call `echo` with a
 * capability in a closed loop; three rounds, printed in microseconds (server and client together).
 *
 * Usage: `node dist/bench/peers/memory-calls.js [DIST] [keyed|unkeyed] [calls per client per round]`, where
 * DIST is the compiled output of the build to measure (default: this one), so two builds compare in turn.
 */
const [dist = resolve(import.meta.dirname, '../..'), mode = 'keyed', perText = '400'] = process.argv.slice(2);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- modules of whichever build DIST holds
const load = (path: string): Promise<any> => import(pathToFileURL(resolve(dist, path)).href);
const { CapsyncServer, ANY, unwrapCapability } = await load('server/index.js');
const { connectInMemory } = await load('testing/index.js');
const { callPayload } = await load('bench/peers/payload.js');

interface Caller {
  call(name: string, ...args: unknown[]): Promise<unknown>;
}

const server = await CapsyncServer.create({ auth: { secret: 'x'.repeat(64) } });
server.callable('grant', ({ user }: { user: { id: string } }) => server.mint(['bench', user.id, 'echo']));
server.callable('echo', (_ctx: unknown, cap: unknown, value: unknown) => {
  unwrapCapability(cap, ['bench', ANY, 'echo']);
  return value;
});
server.callable('hold', ({ user }: { user: { id: string } }, count: number) => Array.from({ length: count }, (_, i) => server.mint(['bench', user.id, 'doc', i])));

const clients: { client: Caller; cap: unknown; held: unknown }[] = [];
for (let i = 0; i < 50; i++) {
  const { client } = (await connectInMemory(server, { user: { id: `u${i}`, roles: [] }, keyedCalls: mode === 'keyed', callTimeoutMs: 60_000 })) as { client: Caller };
  const held = await client.call('hold', 100);
  clients.push({ client, cap: await client.call('grant'), held });
}

const per = Number(perText);
const loop = async (c: (typeof clients)[number], n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await c.client.call('echo', c.cap, callPayload);
};
await Promise.all(clients.map((c) => loop(c, Math.ceil(per / 5)))); // warm-up
const rounds: number[] = [];
for (let r = 0; r < 3; r++) {
  const before = process.cpuUsage();
  await Promise.all(clients.map((c) => loop(c, per)));
  const used = process.cpuUsage(before);
  rounds.push((used.user + used.system) / (per * clients.length));
}
process.stdout.write(`${mode} ${dist}: ${rounds.map((us) => us.toFixed(2)).join(' ')} us per call\n`);
process.exit(0);
