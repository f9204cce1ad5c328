import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import type { CapsyncServer } from '../../server/index.js';
import { root, runCli, startServer } from './helpers.js';

const examples = readdirSync(join(root, 'examples', 'scripts')).filter((f) => /\.(ya?ml|json)$/.test(f));

/** The example scripts, run by the built CLI against the real demo server, as a newcomer would run them. */
describe('examples/scripts', () => {
  let server: CapsyncServer;
  beforeEach(async () => {
    server = await startServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('holds the seed scenario and the hostile cases', () => {
    expect(examples).toEqual(expect.arrayContaining(['videos.yaml', 'hostile.yaml']));
  });

  it.each(examples)('%s passes against the demo server', async (name) => {
    const r = await runCli(['test', `examples/scripts/${name}`, '--url', server.url]);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('✗');
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed in /m);
    expect(r.code).toBe(0);
  });

  it.each(examples)('%s leaves the sessions of people logged in as the demo users alone', async (name) => {
    const people = await Promise.all(['admin', 'editor', 'editor2', 'guest'].map(async (id) => connect(server.url, { token: await server.auth.issue({ id, roles: id === 'guest' ? [] : [id.replace(/2$/, '')] }) })));
    const delegations: unknown[] = [];
    const subscriptions = people.map((p) => p.delegations.subscribe((d) => delegations.push(d)));
    try {
      const r = await runCli(['test', `examples/scripts/${name}`, '--url', server.url]);
      expect(r.code, r.stdout).toBe(0);
      // A round trip on each connection after the run: anything sent to them has arrived by now.
      await Promise.all(people.map((p) => p.presence()));
      expect(delegations).toEqual([]);
    } finally {
      subscriptions.forEach((s) => s.unsubscribe());
      await Promise.all(people.map((p) => p.close()));
    }
  });

  it('takes the server from CAPSYNC_URL as well as --url', async () => {
    const r = await runCli(['test', 'examples/scripts/hostile.yaml'], { env: { CAPSYNC_URL: server.url } });
    expect(r.code, r.stdout).toBe(0);
  });

  it('videos.yaml can run again on the same server: it leaves the seed videos in place', async () => {
    for (let run = 1; run <= 2; run++) {
      const r = await runCli(['test', 'examples/scripts/videos.yaml', '--url', server.url]);
      expect(r.code, `run ${run}:\n${r.stdout}`).toBe(0);
    }
  });

  it('videos.yaml drives the delegation and revocation of issue 4 and checks their codes', async () => {
    const r = await runCli(['test', 'examples/scripts/videos.yaml', '--url', server.url]);
    const steps = [
      "the editor's delete is refused",
      'delegate editor → guest \\(bound\\)',
      'wait guest delegation → grant',
      'the guest updates with the delegated capability',
      'wait guest revocation',
      "the guest's next update is refused",
      "the editor's own capability still works",
      'wait editor push',
    ];
    for (const step of steps) expect(r.stdout).toMatch(new RegExp(`^  ✓ \\d+ ${step} \\(`, 'm'));
    expect(r.stdout).toMatch(/the editor's delete is refused.*\n {6}✓ error ERR_CAPABILITY_MISMATCH\n/);
    expect(r.stdout).toMatch(/the guest's next update is refused.*\n {6}✓ error ERR_CAPABILITY_REVOKED\n/);
  });
});
