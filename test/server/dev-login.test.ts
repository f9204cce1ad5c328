import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
import { CapsyncServer, type Logger } from '../../server/index.js';
import { SECRET, startDemo, type DemoHarness } from '../helpers.js';
import { getHead, rawRequest } from './raw-http.js';

let demo: DemoHarness | undefined;
let bare: CapsyncServer | undefined;
afterEach(async () => {
  await demo?.close();
  await bare?.close();
  demo = bare = undefined;
});

function capture(): { logger: Logger; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  return { warnings, logger: { debug() {}, info() {}, warn: (e) => warnings.push(e as Record<string, unknown>), error: (e) => warnings.push(e as Record<string, unknown>) } };
}

describe('development login and DNS rebinding', () => {
  it('answers a browser on a rebinding domain (Host: evil.example:port) with 403 ERR_FORBIDDEN', async () => {
    demo = await startDemo();
    const port = Number(new URL(demo.url).port);
    const rebound = await rawRequest(
      port,
      getHead(`evil.example:${port}`, '/dev/login?user=admin', ['Origin: http://evil.example:' + port, 'Accept: */*', 'Sec-Fetch-Site: same-origin', 'User-Agent: Mozilla/5.0']),
    );
    expect(rebound.status).toBe(403);
    expect(rebound.headers['content-type']).toBe('application/json');
    expect(rebound.body.code).toBe('ERR_FORBIDDEN');
    expect(rebound.body.token).toBeUndefined();
  });

  it('refuses a loopback name on another port, and a missing Host', async () => {
    demo = await startDemo();
    const port = Number(new URL(demo.url).port);
    expect((await rawRequest(port, getHead(`localhost:${port + 1}`, '/dev/login?user=admin'))).body.code).toBe('ERR_FORBIDDEN');
    expect((await rawRequest(port, getHead('localhost', '/dev/login?user=admin'))).status).toBe(403);
    expect((await rawRequest(port, 'GET /dev/login?user=admin HTTP/1.0\r\n')).status).toBe(403);
  });

  it.each(['127.0.0.1', 'localhost', 'LocalHost'])('answers Host %s with the server port', async (name) => {
    demo = await startDemo();
    const port = Number(new URL(demo.url).port);
    const ok = await rawRequest(port, getHead(`${name}:${port}`, '/dev/login?user=editor'));
    expect(ok.status).toBe(200);
    expect(ok.body.user).toEqual({ id: 'editor', roles: ['editor'] });
  });

  it('is refused when listening beyond loopback, with a warning, unless forced (then a loud warning)', async () => {
    const quiet = capture();
    bare = await CapsyncServer.create({ auth: { secret: SECRET }, devUsers: demoUsers, logger: quiet.logger });
    const { port } = await bare.listen(0, '0.0.0.0');
    const refused = await rawRequest(port, getHead(`127.0.0.1:${port}`, '/dev/login?user=admin'));
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('ERR_FORBIDDEN');
    expect(quiet.warnings.map((w) => w['event'])).toContain('dev_login_refused');
    await bare.close();

    const loud = capture();
    bare = await CapsyncServer.create({ auth: { secret: SECRET }, devUsers: demoUsers, devLoginBeyondLoopback: true, logger: loud.logger });
    const forced = await bare.listen(0, '0.0.0.0');
    expect(loud.warnings.map((w) => w['event'])).toContain('dev_login_exposed');
    expect((await rawRequest(forced.port, getHead(`127.0.0.1:${forced.port}`, '/dev/login?user=admin'))).status).toBe(200);
    // Forcing lifts only the listening address rule: the Host check still refuses rebinding.
    expect((await rawRequest(forced.port, getHead(`evil.example:${forced.port}`, '/dev/login?user=admin'))).body.code).toBe('ERR_FORBIDDEN');
  });

  it('logs in under an id of the caller\'s own with a demo user\'s roles (as=), never a demo user\'s id', async () => {
    demo = await startDemo();
    const port = Number(new URL(demo.url).port);
    const own = await rawRequest(port, getHead(`127.0.0.1:${port}`, '/dev/login?user=editor&as=editor-run-1'));
    expect(own.body.user).toEqual({ id: 'editor-run-1', roles: ['editor'] });
    const client = await connect(demo.url, { token: own.body.token });
    expect(client.user).toEqual({ id: 'editor-run-1', roles: ['editor'] });
    await client.close();
    for (const as of ['admin', '', 'a b', 'x'.repeat(65)]) {
      const refused = await rawRequest(port, getHead(`127.0.0.1:${port}`, `/dev/login?user=guest&as=${encodeURIComponent(as)}`));
      expect([refused.status, refused.body.code]).toEqual([400, 'ERR_BAD_ARGUMENTS']);
    }
  });
});
