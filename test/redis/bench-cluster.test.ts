import { describe, expect, it } from 'vitest';
import { formatReport, runClusterBench } from '../../bench/cluster/run.js';

/**
 * `npm run bench:cluster` in a short form, from the sources (its node processes are the built demo, which
 * the global setup builds). Asserts what the report counts, never a timing.
 */
describe('bench:cluster --short', () => {
  it('reports every figure, and each node hears exactly the changes its clients hold', { timeout: 90_000 }, async () => {
    const report = await runClusterBench(true);
    expect(report.busRatio.map((b) => b.ratio)).toEqual([1, 1, 1]);
    expect(report.delivery.map((d) => d.fsync)).toEqual(['always', 'everysec']);
    for (const f of report.delivery) for (const d of [f.local, f.crossNode, f.busAdds, f.singleNode]) expect(d.n).toBe(30);
    // The load generator's own lateness is reported for every write of both sides, and Redis's scripts per write.
    for (const f of report.delivery) expect([f.sendLag.n, f.missed, f.scriptsPerWrite > 0]).toEqual([60, 0, true]);
    expect(report.revocation!.n).toBe(20);
    expect(report.calls!.baseline.calls).toBeGreaterThan(0);
    expect(report.calls!.redis.map((c) => [c.nodes, c.grouped])).toEqual([[1, true], [1, false]]);
    for (const c of report.calls!.redis) expect(c.calls).toBeGreaterThan(0);
    expect(report.fanout.map((f) => [f.nodes, f.holders])).toEqual([[1, 30], [3, 30]]);
    expect(report.fanout[0]!.missed).toBe(0);
    // Each node process reports its own last holder and event-loop stall.
    expect(report.fanout.map((f) => f.perNode.length)).toEqual([1, 3]);
    for (const f of report.fanout) for (const n of f.perNode) expect(n.stallMs).toBeGreaterThan(0);
    // Every holder on the Redis nodes hears the write too (a capability sent while a node's feed was behind was
    // once no cover, and up to 2/3 of them heard nothing).
    expect(report.fanout[1]!.missed).toBe(0);
    expect(formatReport(report)).toMatch(/calls\/s/);
  });
});
