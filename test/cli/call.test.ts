import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient } from '../../client/index.js';
import { Capability, capabilityFromToken } from '../../protocol/index.js';
import type { CapsyncServer } from '../../server/index.js';
import { hasStackTrace, runCli, startServer } from './helpers.js';

interface VideoForm {
  $portable: string;
  id: string;
  description: string;
  version: number;
  cap: { $capability: string; scope: unknown[] };
}

describe('capsync call', () => {
  let server: CapsyncServer;
  let admin: CapsyncClient;
  beforeAll(async () => {
    server = await startServer();
    admin = await connect(server.url, { token: await server.auth.issue({ id: 'admin', roles: ['admin'] }) });
    await admin.call('get_my_videos'); // the admin now holds every video and hears their pushes
  });
  afterAll(async () => {
    await admin.close();
    await server.close();
  });

  async function editorVideos(): Promise<VideoForm[]> {
    const r = await runCli(['call', server.url, 'get_my_videos', '--user', 'editor']);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as VideoForm[];
  }

  it('prints portable objects as {"$portable": ...} and capabilities as {"$capability", "scope"}', async () => {
    const videos = await editorVideos();
    expect(videos).toHaveLength(3);
    for (const v of videos) {
      expect(v).toMatchObject({ $portable: 'Video', id: expect.any(String), version: 1 });
      expect(v.cap.scope).toEqual(['youtube_videos', v.id, 'update']);
      // The token is the capability's own bytes: decoding it gives the scope printed beside it.
      expect(capabilityFromToken(Buffer.from(v.cap.$capability, 'base64url')).scope).toEqual(v.cap.scope);
    }
  });

  it('accepts a printed capability back as an argument, and the call takes effect', async () => {
    const [video] = await editorVideos();
    const pushed = new Promise((resolve) => {
      const sub = admin.changes.subscribe((c) => {
        if (c.state?.['description'] === 'Set from the command line') {
          sub.unsubscribe();
          resolve(c);
        }
      });
    });
    const r = await runCli(['call', server.url, 'set_video_description', JSON.stringify(video!.cap), '"Set from the command line"', '--user', 'editor']);
    expect(r).toMatchObject({ code: 0, stdout: '2\n' });
    await expect(pushed).resolves.toMatchObject({ address: ['youtube_videos', video!.id], version: 2 });
  });

  it('reads an argument from stdin with "-" and prints one line with --compact', async () => {
    const [, video] = await editorVideos();
    const r = await runCli(['call', server.url, 'set_video_description', '-', '"Piped"', '--user', 'editor', '--compact'], { input: JSON.stringify(video!.cap) });
    expect(r).toMatchObject({ code: 0, stdout: '2\n' });
  });

  it('takes the token from --token (as printed by capsync token)', async () => {
    const token = (await runCli(['token', server.url, '--user', 'editor'])).stdout.trim();
    const [, , video] = await editorVideos();
    const r = await runCli(['call', server.url, 'set_video_description', JSON.stringify(video!.cap), JSON.stringify(`${video!.description}!`), '--token', token]);
    expect(r.code).toBe(0);
  });

  it('exits 1 and prints the error code when the server refuses the call', async () => {
    const [video] = await editorVideos();
    const r = await runCli(['call', server.url, 'delete_video', JSON.stringify(video!.cap), '--user', 'editor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERR_CAPABILITY_MISMATCH: /);
    expect(r.stdout).toBe('');
  });

  it('exits 1 with ERR_FUNCTION_UNKNOWN for constructor', async () => {
    const r = await runCli(['call', server.url, 'constructor', '--user', 'guest']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERR_FUNCTION_UNKNOWN: /);
  });

  it('takes the token from CAPSYNC_TOKEN, and without one is refused at the upgrade', async () => {
    const token = await server.auth.issue({ id: 'guest', roles: [] });
    expect(await runCli(['call', server.url, 'get_my_videos', '--compact'], { env: { CAPSYNC_TOKEN: token } })).toMatchObject({ code: 0, stdout: '[]\n' });
    const anonymous = await runCli(['call', server.url, 'get_my_videos']);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/^ERR_AUTH_REQUIRED: /);
  });

  it('exits 2 when an argument is not JSON, and says how to quote a string', async () => {
    const r = await runCli(['call', server.url, 'set_video_description', 'hello', '--user', 'editor']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`argument 1 is not JSON (a string needs JSON quotes: '"hello"')`);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('exits 2 when a $capability is not a token, or its scope disagrees with the token', async () => {
    const garbage = await runCli(['call', server.url, 'delete_video', '{"$capability": "AAAA"}', '--user', 'editor']);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain('argument 1: "$capability" is not a capability token (ERR_CAPABILITY_MALFORMED)');
    const [video] = await editorVideos();
    const lying = { ...video!.cap, scope: ['youtube_videos', video!.id] };
    const r = await runCli(['call', server.url, 'delete_video', JSON.stringify(lying), '--user', 'editor']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"scope" does not agree with the token');
  });

  it('sends a capability made on the command line unsigned, so the server says forged', async () => {
    const unsigned = Buffer.from(new Capability(['youtube_videos', 'dQw4w9WgXcQ']).toToken()).toString('base64url');
    const r = await runCli(['call', server.url, 'delete_video', JSON.stringify({ $capability: unsigned }), '--user', 'editor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERR_CAPABILITY_FORGED: /);
  });

  it('exits 2 without a function name', async () => {
    const r = await runCli(['call', server.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('needs a server URL and a function name');
  });
});
