import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCli, scratch } from './helpers.js';

/**
 * Scripts that cannot run: `capsync test` exits 2 before connecting anywhere, and names the file, line,
 * column and step of each problem. No server is started: none is needed, and none is contacted.
 */
describe('capsync test with a bad script', () => {
  let dir: ReturnType<typeof scratch>;
  beforeAll(() => {
    dir = scratch();
  });
  afterAll(() => dir.remove());

  async function problems(name: string, text: string): Promise<string[]> {
    const file = dir.write(name, text);
    const r = await runCli(['test', file, '--url', 'ws://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(r.stderr.trimEnd().endsWith('See docs/scripts.md for the script format.')).toBe(true);
    return r.stderr
      .split('\n')
      .filter((l) => l.startsWith(file))
      .map((l) => l.slice(file.length));
  }

  it('points at a YAML syntax error', async () => {
    expect(await problems('syntax.yaml', 'clients:\n  editor: { login: editor\nsteps:\n  - connect: editor\n')).toEqual([
      ':3:1: syntax: Flow map in block collection must be sufficiently indented and end with a }',
    ]);
  });

  it('points at a JSON syntax error too', async () => {
    expect(await problems('broken.json', '{\n  "clients": {}\n  "steps": []\n}\n')).toEqual([
      ':3:3: syntax: Missing , between flow map items',
    ]);
  });

  it('names an unknown field and the one that was meant', async () => {
    expect(
      await problems(
        'fields.yaml',
        `clients:
  editor: { login: editor }
steps:
  - connect: editor
  - call:
      clinet: editor
      function: get_my_videos
`,
      ),
    ).toEqual([
      ':6:7: step 2 (call): unknown field "clinet" in call (did you mean "client"?) (fields: client, function, args, expect, save, timeout)',
    ]);
  });

  it('names an unknown step kind, with its step number and label', async () => {
    expect(
      await problems(
        'kind.yaml',
        `clients: { a: {} }
steps:
  - connect: a
  - name: the typo
    cal: { client: a, function: f }
`,
      ),
    ).toEqual([':5:5: step 2 "the typo": unknown step "cal" (did you mean "call"?); a step is one of connect, disconnect, call, narrow, forge, delegate, revoke, presence, wait, send, expect, let']);
  });

  it('refuses a client that is not declared, or used before it connects', async () => {
    expect(
      await problems(
        'clients.yaml',
        `clients:
  editor: { login: editor }
  admin: { login: admin }
steps:
  - connect: [editor, editr]
  - call: { client: admin, function: get_my_videos }
`,
      ),
    ).toEqual([
      ':5:23: step 1 (connect): no client "editr" in `clients` (did you mean "editor"?)',
      ':6:21: step 2 (call): client "admin" is used before any step connects it (add "- connect: admin" before)',
    ]);
  });

  it('refuses a reference to a name no earlier step saves, and a malformed one', async () => {
    expect(
      await problems(
        'refs.yaml',
        `clients: { editor: { login: editor } }
steps:
  - connect: editor
  - call: { client: editor, function: set_video_description, args: ["\${vidoes[0].cap}", x] }
  - call: { client: editor, function: get_my_videos, save: videos }
  - call: { client: editor, function: set_video_description, args: ["\${videos[0.cap}", x] }
`,
      ),
    ).toEqual([
      ':4:69: step 2 (call): ${vidoes[0].cap} refers to "vidoes", which no earlier step saves (no step before saves anything)',
      ':6:69: step 4 (call): ${videos[0.cap}: unclosed "["',
    ]);
  });

  it('refuses an error code capsync does not have', async () => {
    expect(
      await problems(
        'codes.yaml',
        `clients: { a: {} }
steps:
  - connect: a
  - call: { client: a, function: f, expect: { error: ERR_CAPABILITY_REVOKD } }
`,
      ),
    ).toEqual([':4:54: step 2 (call): "error": not a capsync error code (see protocol/errors.ts)']);
  });

  it('refuses values of the wrong type or range, and send without a payload', async () => {
    expect(
      await problems(
        'values.yaml',
        `clients: { a: {} }
timeout: soon
steps:
  - connect: a
  - wait: { client: a, for: pushes, timeout: -1 }
  - send: { client: a, hex: "0g" }
  - send: { client: a }
`,
      ),
    ).toEqual([
      ':2:10: script: "timeout" must be a number, not a string ("soon")',
      ':5:29: step 2 (wait): "for" must be one of "push", "delegation", "revocation", "error", "reply", "close", "token-expiring"',
      ':5:46: step 2 (wait): "timeout" must be at least 0',
      ':6:29: step 3 (send): hex: not hex bytes (pairs of 0-9, a-f; spaces allowed)',
      ':7:11: step 4 (send): `send` needs one of `hex`, `frame` or `text`',
    ]);
  });

  it('says what a script is when the file is not a map, or has no steps', async () => {
    expect(await problems('list.yaml', '- connect: a\n')).toEqual([':1:1: script: a script is a map with `clients` and `steps` (see docs/scripts.md)']);
    expect(await problems('empty-steps.yaml', 'clients: {}\nsteps: []\n')).toEqual([':2:8: script: "steps" needs at least 1 item(s)']);
  });

  it('reports a missing file, and every bad script before running any', async () => {
    const good = dir.write('good.yaml', 'clients: { a: {} }\nsteps:\n  - connect: a\n');
    const r = await runCli(['test', good, `${dir.path}/missing.yaml`, dir.write('bad.yaml', 'clients: {}\nsteps: [1]\n'), '--url', 'ws://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${dir.path}/missing.yaml: cannot read the script: no such file`);
    expect(r.stderr).toContain(`${dir.path}/bad.yaml:2:9: step 1: a step is a map with one action`);
  });
});
