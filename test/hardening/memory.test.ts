import { describe, expect, it } from 'vitest';
import { bundledBench } from '../bench-kit.js';

/**
 * `npm run bench:memory` in a short form: the server child measures, after full collections (`--expose-gc`),
 * what it keeps per held capability. A deterministic figure (retained bytes), not a timing. Before the fix
 * each held capability kept about 29 KB (its block and token bytes were views into fresh 8 KiB buffers).
 */
const bench = bundledBench('memory', 'bench/memory', ['bench/memory/run.ts', 'bench/memory/child.ts']);
const run = (args: string[]) => bench.run('run.js', args);

describe('bench:memory (short form)', () => {
  it('keeps a held capability under 8 KB of server memory (it was about 29 KB), ArrayBuffers under 1 KB', async () => {
    const { code, output } = await run(['--held', '1500', '--connections', '50', '--waves', '1', '--json']);
    expect(code, output).toBe(0);
    const report = JSON.parse(output.trim().split('\n').pop()!) as {
      held: { held: number; arrayBuffersPerCap: number; totalPerCap: number }[];
      idle: { mode: string; heapPerConnection: number }[];
    };
    expect(report.held[0]!.held).toBeGreaterThanOrEqual(1500);
    expect(report.held[0]!.arrayBuffersPerCap).toBeLessThan(1_000);
    expect(report.held[0]!.totalPerCap).toBeLessThan(8_000);
    expect(report.idle.map((r) => r.mode)).toEqual(['ws', 'capsync']);
  }, 120_000);

  it('keeps an idle connection within 1.55x of a raw ws connection\'s heap (it was 2.0x; 1.22-1.34x now at 1,000 connections, 1.43x once in a loaded full run)', async () => {
    const { code, output } = await run(['--held', '10', '--connections', '1000', '--waves', '1', '--json']);
    expect(code, output).toBe(0);
    const { idle } = JSON.parse(output.trim().split('\n').pop()!) as { idle: { mode: string; heapPerConnection: number }[] };
    const [ws, capsync] = idle as [{ heapPerConnection: number }, { heapPerConnection: number }];
    expect(ws.heapPerConnection, output).toBeGreaterThan(1_000); // the baseline did measure sockets
    expect(capsync.heapPerConnection / ws.heapPerConnection, output).toBeLessThan(1.55);
  }, 120_000);

  it('gives an idle connection no per-connection codec-context or holding-event, inbox or transport closures (get user, onCapability, held, deliver, ...), no listener closures, and no inbox, requests, holdings or codec contexts before it sends or holds anything', async () => {
    const { code, output } = await run(['--held', '10', '--connections', '200', '--waves', '1', '--census', '--census-top', '100000']);
    expect(code, output).toBe(0);
    const idle = output.slice(output.indexOf('heap growth per idle capsync connection'));
    expect(idle.length, output).toBeGreaterThan(0);
    // Lines read "<bytes> B <objects per connection> objects  <kind>:<name>".
    const perConnection = (kind: string): number => {
      const line = idle.split('\n').find((l) => l.trimEnd().endsWith(`  ${kind}`));
      return line === undefined ? 0 : Number(line.trim().split(/\s+/)[2]);
    };
    expect(perConnection('object:ServerSession'), idle).toBeGreaterThan(0.9); // the census did see the sessions
    // Beside ws's own closure per socket, none: the socket's events reach the connection without listeners.
    expect(perConnection('closure:'), idle).toBeLessThan(1.5);
    for (const kind of ['object:FairInbox', 'object:SessionRequests', 'object:Holdings', 'object:InboundContext', 'object:OutboundContext', 'object:TokenDeadline']) expect(perConnection(kind), `${kind}\n${idle}`).toBeLessThan(kind === 'object:TokenDeadline' ? 1.5 : 0.5);
    for (const kind of ['closure:get user', 'closure:get bindTo', 'closure:onCapability', 'closure:held', 'closure:released', 'closure:ended', 'closure:refused', 'closure:deliver', 'closure:pause', 'closure:resume', 'closure:get bufferedAmount']) expect(perConnection(kind), `${kind}\n${idle}`).toBeLessThan(0.5);
  }, 120_000);
});
