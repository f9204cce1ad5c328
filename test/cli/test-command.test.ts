import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CapsyncServer } from '../../server/index.js';
import { closedPort, root, runCli, scratch, startServer } from './helpers.js';

const passing = `
name: editor and admin
clients:
  editor: { login: editor }
  admin: { login: admin }
  guest: { login: guest }
steps:
  - connect: [editor, admin, guest]
  - call: { client: editor, function: get_my_videos, save: videos, expect: { match: { $length: 3 } } }
  - call: { client: admin, function: get_my_videos }
  - call: { client: guest, function: get_my_videos, expect: { equals: [] } }
  - call:
      client: editor
      function: set_video_description
      args: ["\${videos[0].cap}", "scripted"]
      expect: { match: { $type: integer } }
  - wait:
      client: admin
      for: push
      match: { address: [youtube_videos, "\${videos[0].id}"] }
      expect: { match: { state: { description: scripted } } }
`;

const failing = `
clients:
  editor: { login: editor }
steps:
  - connect: editor
  - call: { client: editor, function: get_my_videos, save: videos }
  - name: expects the wrong error
    call:
      client: editor
      function: delete_video
      args: ["\${videos[0].cap}"]
      expect: { error: ERR_CAPABILITY_REVOKED }
  - call: { client: editor, function: get_my_videos }
`;

describe('capsync test', () => {
  let server: CapsyncServer;
  let dir: ReturnType<typeof scratch>;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    dir = scratch();
  });
  afterEach(() => dir.remove());

  it('prints a line per step and per expectation, and the summary, and exits 0 when all pass', async () => {
    const file = dir.write('passing.yaml', passing);
    const r = await runCli(['test', file, '--url', server.url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain(`editor and admin (${file}) against ${server.url}`);
    expect(lines.filter((l) => /^ {2}✓ \d /.test(l)).map((l) => l.replace(/ \(\d+ ms\)$/, ''))).toEqual([
      '  ✓ 1 connect editor, admin, guest',
      '  ✓ 2 call editor get_my_videos → videos',
      '  ✓ 3 call admin get_my_videos',
      '  ✓ 4 call guest get_my_videos',
      '  ✓ 5 call editor set_video_description',
      '  ✓ 6 wait admin push',
    ]);
    expect(lines.filter((l) => /^ {6}✓ /.test(l))).toEqual([
      '      ✓ matches {"$length":3}',
      '      ✓ equals []',
      '      ✓ matches {"$type":"integer"}',
      '      ✓ matches {"state":{"description":"scripted"}}',
    ]);
    expect(r.stdout).toMatch(/^6 passed, 0 failed in \d+\.\d\d s$/m);
  });

  it('shows the failing step with expected and actual, skips the rest, and exits 1', async () => {
    const file = dir.write('failing.yaml', failing);
    const r = await runCli(['test', file, '--url', server.url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}✗ 3 expects the wrong error \(\d+ ms\)$/m);
    expect(r.stdout).toContain(
      [
        '      ✗ error ERR_CAPABILITY_REVOKED',
        '          expected error ERR_CAPABILITY_REVOKED, got ERR_CAPABILITY_MISMATCH',
        '          (- expected, + actual)',
        '          - error ERR_CAPABILITY_REVOKED',
        '          + error ERR_CAPABILITY_MISMATCH: capability scope does not match the pattern',
        '      at line 7',
      ].join('\n'),
    );
    expect(r.stdout).toContain('  - 4 call editor get_my_videos (skipped)');
    expect(r.stdout).toMatch(/^2 passed, 1 failed \(1 skipped\) in /m);
  });

  it('diffs a failed pattern against the part of the value it looked at', async () => {
    const file = dir.write(
      'diff.yaml',
      `clients: { editor: { login: editor } }
steps:
  - connect: editor
  - call:
      client: editor
      function: get_my_videos
      expect: { match: [{ title: Never Gonna Give You Up }, { title: Gangnam Style }, { title: La Macarena }] }
`,
    );
    const r = await runCli(['test', file, '--url', server.url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('at $[2].title: expected "La Macarena", got "Despacito"');
    expect(r.stdout).toContain('-     "title": "La Macarena"');
    expect(r.stdout).toContain('+     "title": "Despacito"');
    expect(r.stdout).not.toContain('$capability'); // the diff shows what the pattern names, not the whole Video
  });

  it('fails "nothing received" for a push that was already on its way: a round trip comes first', async () => {
    const file = dir.write(
      'quiet.yaml',
      `clients: { editor: { login: editor }, admin: { login: admin } }
steps:
  - connect: [editor, admin]
  - call: { client: admin, function: get_my_videos }
  - call: { client: editor, function: get_my_videos, save: videos }
  - call: { client: editor, function: set_video_description, args: ["\${videos[1].cap}", "noisy"] }
  - expect: { client: admin, nothing: 0 }
`,
    );
    const r = await runCli(['test', file, '--url', server.url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('      ✗ nothing received within 0 ms');
    expect(r.stdout).toMatch(/^ {10}\+ push \{"address":\["youtube_videos","9bZkp7q19f0"\]/m);
  });

  it('fails a wait that times out, showing the event that came instead against the pattern', async () => {
    const file = dir.write(
      'wait.yaml',
      `clients: { editor: { login: editor }, admin: { login: admin } }
steps:
  - connect: [editor, admin]
  - call: { client: admin, function: get_my_videos }
  - call: { client: editor, function: get_my_videos, save: videos }
  - call: { client: editor, function: set_video_description, args: ["\${videos[2].cap}", "what came"] }
  - wait: { client: admin, for: push, match: { state: { description: what was expected } }, timeout: 300 }
`,
    );
    const r = await runCli(['test', file, '--url', server.url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ 5 wait admin push \(\d+ ms\)\n {6}no push matching the pattern within 300 ms; 1 other push arrived, the first differs\n/);
    expect(r.stdout).toContain('-     "description": "what was expected"');
    expect(r.stdout).toContain('+     "description": "what came"');
  });

  it('writes JUnit XML with --reporter junit --output, and still prints the console report', async () => {
    const ok = dir.write('passing.yaml', passing);
    const bad = dir.write('failing.yaml', failing);
    const report = join(dir.path, 'report.xml');
    const r = await runCli(['test', ok, bad, '--url', server.url, '--reporter', 'junit', '--output', report]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^8 passed, 1 failed \(1 skipped\)/m);
    const xml = readFileSync(report, 'utf8');
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="capsync test" tests="10" failures="1" errors="0" skipped="1"')).toBe(true);
    const suites = [...xml.matchAll(/<testsuite name="([^"]*)" file="([^"]*)" tests="(\d+)" failures="(\d+)" errors="0" skipped="(\d+)"/g)].map((m) => m.slice(1));
    expect(suites).toEqual([
      ['editor and admin', ok, '6', '0', '0'],
      ['failing.yaml', bad, '4', '1', '1'],
    ]);
    expect(xml.match(/<testcase /g)).toHaveLength(10);
    const failure = /<testcase name="3 expects the wrong error" classname="failing.yaml" file="[^"]*" line="7" time="[\d.]+">\n\s+<failure message="([^"]*)" type="expectation">([^<]*)<\/failure>/.exec(xml);
    expect(failure?.[1]).toBe('error ERR_CAPABILITY_REVOKED: expected error ERR_CAPABILITY_REVOKED, got ERR_CAPABILITY_MISMATCH');
    expect(failure?.[2]).toContain('+ error ERR_CAPABILITY_MISMATCH');
    expect(xml).toContain('<testcase name="4 call editor get_my_videos" classname="failing.yaml"');
    expect(xml).toMatch(/<skipped message="an earlier step failed"\/>/);
    expect(xml.trimEnd().endsWith('</testsuites>')).toBe(true);
  });

  it('writes JUnit XML to stdout when there is no --output, and nothing else', async () => {
    const r = await runCli(['test', dir.write('passing.yaml', passing), '--url', server.url, '--reporter', 'junit']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('<?xml')).toBe(true);
    expect(r.stdout).toContain('tests="6" failures="0"');
    expect(r.stdout).not.toContain('✓');
  });

  it('takes the URL from CAPSYNC_URL when there is no --url, and exits 2 when there is none at all', async () => {
    const file = dir.write('passing.yaml', passing);
    expect((await runCli(['test', file], { env: { CAPSYNC_URL: server.url } })).code).toBe(0);
    const r = await runCli(['test', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: no server URL: give --url ws://host:port, set CAPSYNC_URL, or add \`url:\` to the script`);
  });

  it('reports a server that is not there as a failed connect step, with a hint', async () => {
    const port = await closedPort();
    const r = await runCli(['test', dir.write('passing.yaml', passing), '--url', `ws://127.0.0.1:${port}`, '--timeout', '2000']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ 1 connect editor, admin, guest/);
    expect(r.stdout).toContain(`ERR_NOT_CONNECTED: cannot reach http://127.0.0.1:${port}: connection refused (is the server running?)`);
  });

  it('validates without running with --check', async () => {
    const r = await runCli(['test', dir.write('passing.yaml', passing), dir.write('failing.yaml', failing), '--check']);
    expect(r).toMatchObject({ code: 0, stdout: '2 scripts OK\n' });
  });

  it('prints the JSON Schema that docs/script.schema.json holds', async () => {
    const r = await runCli(['test', '--schema']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(join(root, 'docs', 'script.schema.json'), 'utf8')));
  });
});
