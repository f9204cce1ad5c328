import { randomUUID } from 'node:crypto';
import { connect as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient, type ConnectOptions } from '../../client/index.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { startDemo, type DemoHarness } from '../helpers.js';
import { abort } from './tcp-link.js';
import { TcpProxy } from './tcp-proxy.js';
import { ServerStartError, useServerProcesses } from './server-process.js';

const processes = useServerProcesses();
/**
 * Torn down after each test, proxies and server processes first: a client whose socket was cut or whose
 * server died closes at once, one facing a stalled proxy or a stopped server would wait for its close handshake.
 */
const proxies: TcpProxy[] = [];
const clients: CapsyncClient[] = [];
const demos: DemoHarness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await processes.disposeAll();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(demos.splice(0).map((d) => d.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function proxyTo(port: number): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(port);
  proxies.push(proxy);
  return proxy;
}

async function client(url: string, token: string, options: ConnectOptions = {}): Promise<CapsyncClient> {
  const c = await connect(url, { token, reconnect: false, ...options });
  clients.push(c);
  return c;
}

async function demo(): Promise<DemoHarness> {
  const d = await startDemo();
  demos.push(d);
  return d;
}

/** Settles as 'answered' or 'failed', or as `label` if `signal` resolves first. */
function race(call: Promise<unknown>, signal: Promise<void>, label: string): Promise<string> {
  return Promise.race([call.then(() => 'answered', () => 'failed'), signal.then(() => label)]);
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; fire(): void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

describe('TcpProxy', () => {
  it('forwards calls, and cut() ends the connection with 1006 and fails the pending call', async () => {
    const d = await demo();
    const proxy = await proxyTo(Number(new URL(d.url).port));
    const editor = await client(proxy.url, await d.token('editor'));
    expect(await editor.call<Video[]>('get_my_videos')).toHaveLength(3);
    expect(proxy.connections).toBe(1);

    const pending = expect(editor.call('get_my_videos')).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    expect(await proxy.cut()).toBe(1);
    await pending;
    expect((await editor.closed).code).toBe(1006);
    expect(proxy.connections).toBe(0);
    expect(proxy.accepted).toBe(1);
  });

  it('holds both directions during stall() with the sockets open, and resume() delivers what it held', async () => {
    const d = await demo();
    const proxy = await proxyTo(Number(new URL(d.url).port));
    const token = await d.token('editor');
    const patient = await client(proxy.url, token);
    const hasty = await client(proxy.url, token, { callTimeoutMs: 300 });

    proxy.stall();
    const forwarded = proxy.bytes.forwarded.up;
    const call = patient.call<Video[]>('get_my_videos');
    // The hasty client's own timeout bounds the wait: 300 ms without an answer, on either connection.
    await expect(hasty.call('get_my_videos')).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    await proxy.until(() => proxy.held.up > 0, 5000, 'the call held in the proxy');
    expect(proxy.bytes.forwarded.up).toBe(forwarded);

    const resumed = signal();
    const outcome = race(call, resumed.promise, 'still pending at resume');
    proxy.resume();
    resumed.fire();
    expect(await outcome).toBe('still pending at resume');
    expect(await call).toHaveLength(3);
    expect(await hasty.call<Video[]>('get_my_videos')).toHaveLength(3);
    expect(proxy.connections).toBe(2);
  });

  it('adds at least the delay to each direction of a round trip', async () => {
    const d = await demo();
    const proxy = await proxyTo(Number(new URL(d.url).port));
    const editor = await client(proxy.url, await d.token('editor'));
    proxy.delay(50);
    const started = Date.now();
    await editor.presence();
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('keeps the order of bytes when the delay drops', async () => {
    const echo = createServer((socket) => socket.on('error', () => {}).pipe(socket));
    servers.push(echo);
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const proxy = await proxyTo((echo.address() as AddressInfo).port);
    const socket = tcpConnect(proxy.port, '127.0.0.1').on('error', () => {});
    let received = '';
    const echoed = new Promise<void>((resolve) =>
      socket.setEncoding('utf8').on('data', (d: string) => {
        received += d;
        if (received.length >= 12) resolve();
      }),
    );
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    proxy.delay(80);
    socket.write('first ');
    await proxy.until(() => proxy.held.up > 0);
    proxy.delay(0);
    socket.write('second');
    await echoed;
    expect(received).toBe('first second');
    socket.destroy();
  });

  it('refuses new connections with a reset or a blackhole, and accepts them again', async () => {
    const d = await demo();
    const proxy = await proxyTo(Number(new URL(d.url).port));
    const token = await d.token('editor');
    const open = await client(proxy.url, token);

    proxy.refuse(true);
    await expect(connect(proxy.url, { token })).rejects.toMatchObject({ code: 'ERR_NOT_CONNECTED' });
    proxy.refuse('blackhole');
    await expect(connect(proxy.url, { token, connectTimeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_NOT_CONNECTED' });
    expect(proxy.refused).toBe(2);
    expect(await open.call<Video[]>('get_my_videos')).toHaveLength(3);

    proxy.refuse(false);
    expect((await client(proxy.url, token)).user?.id).toBe('editor');
  });

  it('abort() (what cut() does to each socket) closes a socket whose FIN is in flight (a reset cannot: it never closed, and cut() never resolved)', async () => {
    const accepted: Socket[] = [];
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      accepted.push(socket);
      socket.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = tcpConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // What a link does when its source ended: it ends the other socket. The shutdown is requested in the next
    // tick and completes at the next poll; the abort lands in between, as a cut() right after a resume() that
    // forwarded a held FIN did (the nodes chaos property hung on a busCut after a Redis link stall).
    socket.end();
    await new Promise((resolve) => process.nextTick(resolve));
    abort(socket);
    await closed;
    expect(socket.destroyed).toBe(true);
    for (const s of accepted) s.destroy();
  });

  it('sends new connections to the new target after retarget(), leaving open ones where they are', async () => {
    const [first, second] = await Promise.all([demo(), demo()]);
    const proxy = await proxyTo(Number(new URL(first.url).port));
    const before = await client(proxy.url, await first.token('editor'));
    proxy.retarget(Number(new URL(second.url).port));
    await client(proxy.url, await second.token('editor'));
    expect([first.server.sessionCount, second.server.sessionCount]).toEqual([1, 1]);
    expect(await before.call<Video[]>('get_my_videos')).toHaveLength(3);
  });
});

describe('ServerProcess', () => {
  it('ends connections with 1006 on kill -9, and a restart on the same data folder keeps an earlier write', async () => {
    const server = await processes.start();
    const proxy = await proxyTo(server.port);
    const editor = await client(proxy.url, await server.token('editor'));
    const [video] = await editor.call<Video[]>('get_my_videos');
    const text = `written before kill -9 ${randomUUID()}`;
    await editor.call('set_video_description', video!.cap, text);

    // Handled from the start: the socket may close (and the call fail) before kill9() has seen the exit.
    const pending = expect(editor.call('get_my_videos')).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    await server.kill9();
    expect(server.running).toBe(false);
    expect((await editor.closed).code).toBe(1006);
    await pending;

    const port = server.port;
    await server.restart();
    expect(server.port).toBe(port);
    const again = await client(proxy.url, await server.token('editor'));
    const videos = await again.call<Video[]>('get_my_videos');
    expect(videos.find((v) => v.id === video!.id)?.description).toBe(text);
  });

  it('retries a restart only while the port is in use, a bounded number of times', async () => {
    const server = await processes.start({ restartAttempts: 2 });
    await server.kill9();
    const squatter = createServer();
    servers.push(squatter);
    await new Promise<void>((resolve) => squatter.listen(server.port, '127.0.0.1', resolve));
    const failure = await server.restart().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ServerStartError);
    expect((failure as ServerStartError).addressInUse).toBe(true);
    expect(processes.children.length).toBe(3);

    await new Promise((resolve) => squatter.close(resolve));
    await server.restart();
    expect((await client(server.url, await server.token('guest'))).user?.id).toBe('guest');
  });

  it('freezes calls on SIGSTOP and answers them after SIGCONT', async () => {
    const server = await processes.start();
    const token = await server.token('editor');
    const patient = await client(server.url, token);
    const hasty = await client(server.url, token, { callTimeoutMs: 300 });

    server.stop();
    const call = patient.call<Video[]>('get_my_videos');
    await expect(hasty.call('get_my_videos')).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });

    const continued = signal();
    const outcome = race(call, continued.promise, 'still pending at SIGCONT');
    server.cont();
    continued.fire();
    expect(await outcome).toBe('still pending at SIGCONT');
    expect(await call).toHaveLength(3);
    expect(await hasty.call<Video[]>('get_my_videos')).toHaveLength(3);
  });

  it('exits by itself once the test process is gone (its IPC channel closed), leaving no orphan', async () => {
    await processes.start();
    const [child] = processes.children;
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child!.disconnect();
    expect(await exited).toBe(70);
    expect(processes.running).toBe(0);
  });

  it('exits with 0 on SIGTERM after closing connections with 1001', async () => {
    const server = await processes.start();
    const editor = await client(server.url, await server.token('editor'));
    expect(await server.terminate()).toBe(0);
    expect((await editor.closed).code).toBe(1001);
  });
});
