import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connect } from '../../client/index.js';
import { SignJWT } from 'jose';
import { SECRET, startDemo, type DemoHarness } from '../helpers.js';
import { rawRequest, upgradeHead } from './raw-http.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

function httpGet(url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    }).on('error', reject).end();
  });
}

describe('authentication and origins at the upgrade', () => {
  it('refuses connections without a token unless anonymous ones are allowed', async () => {
    demo = await startDemo();
    await expect(connect(demo.url)).rejects.toMatchObject({ code: 'ERR_AUTH_REQUIRED' });
    await demo.close();
    demo = await startDemo({ auth: { secret: 'test-secret-test-secret-test-secret-0123456789', allowAnonymous: true } });
    const anonymous = await connect(demo.url);
    expect(anonymous.user).toBeNull();
    expect(await anonymous.call('get_my_videos')).toEqual([]);
    await anonymous.close();
  });

  it('refuses a token signed with another secret, or expired', async () => {
    demo = await startDemo();
    const other = await startDemo({ auth: { secret: 'another-secret-another-secret-another-secret-1' } });
    try {
      await expect(connect(demo.url, { token: await other.token('admin') })).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
      const expired = await demo.server.auth.issue({ id: 'admin', roles: ['admin'] }, -60);
      await expect(connect(demo.url, { token: expired })).rejects.toMatchObject({ code: 'ERR_AUTH_EXPIRED' });
      await expect(connect(demo.url, { token: 'not.a.jwt' })).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
    } finally {
      await other.close();
    }
  });

  it('answers a foreign Origin with 403 before the upgrade and lets an allowed one in', async () => {
    demo = await startDemo({ origins: ['https://dashboard.example'] });
    const token = await demo.token('editor');
    const raw = (origin: string) =>
      new Promise<string>((resolve) => {
        const socket = netConnect(Number(new URL(demo!.url).port), '127.0.0.1', () => {
          socket.write(
            `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: ${origin}\r\n` +
              `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: capsync.v1, capsync.bearer.${token}\r\n\r\n`,
          );
        });
        let text = '';
        socket.on('data', (c) => {
          text += c.toString();
          if (text.includes('\r\n\r\n')) (socket.destroy(), resolve(text.split('\r\n')[0]!));
        });
        socket.on('end', () => resolve(text.split('\r\n')[0]!));
      });
    expect(await raw('https://evil.example')).toBe('HTTP/1.1 403 Forbidden');
    expect(await raw('https://dashboard.example')).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it("accepts by default only the server's own origin from browsers, and clients that send none", async () => {
    demo = await startDemo();
    const port = Number(new URL(demo.url).port);
    const token = await demo.token('editor');
    const upgrade = (host: string, origin?: string) =>
      rawRequest(port, upgradeHead(host, [...(origin ? [`Origin: ${origin}`] : []), `Sec-WebSocket-Protocol: capsync.v1, capsync.bearer.${token}`]));
    const foreign = await upgrade(`127.0.0.1:${port}`, 'https://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('ERR_FORBIDDEN');
    expect(foreign.headers['x-capsync-error']).toBe('ERR_FORBIDDEN');
    // Same host, another port: another origin.
    expect((await upgrade(`127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`)).status).toBe(403);
    expect((await upgrade(`127.0.0.1:${port}`, 'null')).status).toBe(403);
    expect((await upgrade(`127.0.0.1:${port}`, `http://127.0.0.1:${port}`)).status).toBe(101);
    expect((await upgrade(`localhost:${port}`, `http://LOCALHOST:${port}`)).status).toBe(101);
    expect((await upgrade(`127.0.0.1:${port}`)).status).toBe(101);
  });

  it("allows any origin with origins: '*' or ['*']", async () => {
    for (const origins of ['*', ['*']] as const) {
      demo = await startDemo({ origins });
      const port = Number(new URL(demo.url).port);
      const token = await demo.token('editor');
      const answer = await rawRequest(port, upgradeHead(`127.0.0.1:${port}`, ['Origin: https://elsewhere.example', `Sec-WebSocket-Protocol: capsync.v1, capsync.bearer.${token}`]));
      expect(answer.status).toBe(101);
      await demo.close();
      demo = undefined;
    }
  });

  it('refuses an Authorization header that is not Bearer with 401 ERR_AUTH_INVALID, even where anonymous is allowed', async () => {
    demo = await startDemo({ auth: { secret: SECRET, allowAnonymous: true } });
    const port = Number(new URL(demo.url).port);
    const answer = await rawRequest(port, upgradeHead(`127.0.0.1:${port}`, ['Authorization: Basic ZWRpdG9yOnB3', 'Sec-WebSocket-Protocol: capsync.v1']));
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe('ERR_AUTH_INVALID');
  });

  it('refuses a JWT without exp unless allowTokensWithoutExpiry', async () => {
    const forever = await new SignJWT({ roles: ['editor'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('editor').sign(new TextEncoder().encode(SECRET));
    demo = await startDemo();
    await expect(connect(demo.url, { token: forever })).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
    await demo.close();
    demo = await startDemo({ auth: { secret: SECRET, allowTokensWithoutExpiry: true } });
    const client = await connect(demo.url, { token: forever });
    expect(client.user?.id).toBe('editor');
    await client.close();
  });

  it('serves development logins for the demo users only', async () => {
    demo = await startDemo();
    const http = demo.url.replace('ws:', 'http:');
    const ok = await httpGet(`${http}/dev/login?user=editor`);
    expect(ok.status).toBe(200);
    expect(ok.body.user).toEqual({ id: 'editor', roles: ['editor'] });
    const client = await connect(demo.url, { token: ok.body.token });
    expect(client.user?.id).toBe('editor');
    await client.close();
    expect((await httpGet(`${http}/dev/login?user=__proto__`)).status).toBe(404);
    expect((await httpGet(`${http}/dev/login?user=root`)).body.code).toBe('ERR_NOT_FOUND');
  });

  it('drops a peer that stops answering pings', async () => {
    demo = await startDemo({ heartbeatMs: 40 });
    const token = await demo.token('editor');
    // A raw socket completes the handshake and then never answers a ping (a dead peer).
    const closed = new Promise<void>((resolve) => {
      const socket = netConnect(Number(new URL(demo!.url).port), '127.0.0.1', () => {
        socket.write(
          `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer ${token}\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: capsync.v1\r\n\r\n`,
        );
      });
      socket.resume(); // read (and ignore) the pings, so the server's close is seen
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    await closed;
    // The server's own 'close' event may run just after the peer saw the socket end.
    await vi.waitFor(() => expect(demo!.server.sessionCount).toBe(0));
  });
});
