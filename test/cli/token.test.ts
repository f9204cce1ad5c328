import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapsyncServer } from '../../server/index.js';
import { closedPort, hasStackTrace, runCli, startServer } from './helpers.js';

describe('capsync token', () => {
  let server: CapsyncServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('prints a development JWT the server accepts for that user', async () => {
    const r = await runCli(['token', server.url, '--user', 'editor']);
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const { user } = await server.auth.authenticate(token);
    expect(user).toMatchObject({ id: 'editor', roles: ['editor'] });
  });

  it('takes the HTTP URL as well as the WebSocket one, and prints the user with --json', async () => {
    const r = await runCli(['token', server.url.replace('ws:', 'http:'), '--user', 'admin', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ token: expect.any(String), user: { id: 'admin', roles: ['admin'] } });
  });

  it('exits 1 with ERR_NOT_FOUND for a user the dev login does not know', async () => {
    const r = await runCli(['token', server.url, '--user', 'mallory']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERR_NOT_FOUND: /);
    expect(r.stdout).toBe('');
  });

  it('exits 1 with ERR_NOT_CONNECTED when no server listens', async () => {
    const r = await runCli(['token', `ws://127.0.0.1:${await closedPort()}`, '--user', 'editor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERR_NOT_CONNECTED: .*connection refused/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('exits 2 without --user, or with a URL that is not one', async () => {
    expect((await runCli(['token', server.url])).code).toBe(2);
    const bad = await runCli(['token', 'ftp://example', '--user', 'editor']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('must start with ws://');
  });
});
