import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasStackTrace, root, runCli, scratch } from './helpers.js';

/** One clear line, exit 2, no stack trace, and not called an internal error. */
function expectUserMistake(r: { code: number | null; stderr: string }): void {
  expect(r.code, r.stderr).toBe(2);
  expect(hasStackTrace(r.stderr)).toBe(false);
  expect(r.stderr).not.toContain('internal error');
  expect(r.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(2);
}

describe('capsync serve: user mistakes are one line and exit 2', () => {
  let busy: Server;
  let busyPort: number;
  const dir = scratch();
  beforeEach(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    busyPort = (busy.address() as { port: number }).port;
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => busy.close(() => resolve()));
  });
  afterAll(() => dir.remove());

  const serve = (...flags: string[]) => runCli(['serve', '--port', '0', '--data', ':memory:', '--log-level', 'silent', ...flags]);

  it('a busy port', async () => {
    const r = await serve('--port', String(busyPort), '--host', '127.0.0.1');
    expectUserMistake(r);
    expect(r.stderr).toContain(`port ${busyPort}`);
  });

  it('a busy port under npm start too', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'dist', 'examples', 'video', 'main.js'), '--port', String(busyPort), '--data', ':memory:'], {
        cwd: root,
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAPSYNC_'))),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expectUserMistake(r);
  });

  it('a JWT secret under 32 bytes', async () => {
    const r = await serve('--jwt-secret', 'too-short');
    expectUserMistake(r);
    expect(r.stderr).toContain('--jwt-secret');
  });

  it('a log level pino does not have', async () => {
    const r = await serve('--log-level', 'loud');
    expectUserMistake(r);
    expect(r.stderr).toContain('--log-level');
  });

  it.each(['not a url', 'ftp://keys.example/jwks.json'])('a JWKS URL that is not http(s): %s', async (url) => {
    const r = await serve('--jwks-url', url);
    expectUserMistake(r);
    expect(r.stderr).toContain('--jwks-url');
  });

  it.each(['203.0.113.7', 'no-such-host.invalid', 'a b'])('a host this machine cannot listen on: %s', async (host) => {
    const r = await serve('--host', host);
    expectUserMistake(r);
    expect(r.stderr).toContain('--host');
  });

  it('a data path that is a file', async () => {
    const file = dir.write('not-a-folder', 'x');
    const r = await runCli(['serve', '--port', '0', '--data', file, '--log-level', 'silent']);
    expectUserMistake(r);
    expect(r.stderr).toContain('--data');
  });
});
