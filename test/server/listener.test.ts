/** The Node adapter on its own: close frames it sends, and the drain on close, over real sockets. */
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../server/index.js';
import { startDemo, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

/** A raw upgrade that then never answers a ping; resolves with every byte the server sent. */
function deadPeer(url: string, token: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = netConnect(Number(new URL(url).port), '127.0.0.1', () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer ${token}\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: capsync.v1\r\n\r\n`,
      );
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

/** The code of the close frame in what a server sent after its 101 response (server frames are unmasked). */
function closeCodeOf(bytes: Buffer): number | undefined {
  let at = bytes.indexOf('\r\n\r\n') + 4;
  while (at > 3 && at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let length = bytes[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) (length = bytes.readUInt16BE(at + 2)), (header = 4);
    else if (length === 127) (length = Number(bytes.readBigUInt64BE(at + 2))), (header = 10);
    if (opcode === 0x8) return bytes.readUInt16BE(at + header);
    at += header + length;
  }
  return undefined;
}

describe('the Node listener', () => {
  it('sends a peer that misses its pings a 4000 close frame before ending the socket', async () => {
    demo = await startDemo({ heartbeatMs: 40 });
    const bytes = await deadPeer(demo.url, await demo.token('editor'));
    expect(closeCodeOf(bytes)).toBe(CloseCode.heartbeatTimeout);
  });

  it('does not end a peer whose pong arrived while the server\'s event loop was stalled', async () => {
    demo = await startDemo({ heartbeatMs: 50 });
    // The peer is another process, so it answers the server's pings while this one is stalled; it prints a
    // line per ping it hears and one when its socket closes.
    const peer = spawn(process.execPath, ['--input-type=module', '-e', `
      import WebSocket from 'ws';
      const ws = new WebSocket(process.argv[1], ['capsync.v1'], { headers: { authorization: 'Bearer ' + process.argv[2] } });
      ws.on('open', () => console.log('open'));
      ws.on('ping', () => console.log('ping'));
      ws.on('close', (code) => { console.log('close ' + code); process.exit(0); });
    `, demo.url, await demo.token('editor')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: peer.stdout! });
    const heard: string[] = [];
    const waiters: (() => void)[] = [];
    lines.on('line', (line) => (heard.push(line), waiters.splice(0).forEach((w) => w())));
    const until = (test: () => boolean): Promise<void> => new Promise((resolve) => {
      const check = (): void => (test() ? resolve() : void waiters.push(check));
      check();
    });
    const pings = (): number => heard.filter((l) => l === 'ping').length;
    try {
      await until(() => pings() >= 2);
      // The next ping is followed, before this process reads anything more, by a stall of six intervals: the
      // peer's pong is waiting in the socket when the next heartbeat fires.
      const ping = WebSocket.prototype.ping;
      let stalled = false;
      WebSocket.prototype.ping = function (this: WebSocket, ...args: Parameters<WebSocket['ping']>): void {
        ping.apply(this, args);
        if (stalled) return;
        stalled = true;
        setImmediate(() => {
          const end = Date.now() + 300;
          while (Date.now() < end);
        });
      };
      const after = pings();
      try {
        await until(() => stalled && (pings() >= after + 6 || heard.some((l) => l.startsWith('close'))));
      } finally {
        WebSocket.prototype.ping = ping;
      }
      expect(heard.filter((l) => l.startsWith('close'))).toEqual([]);
    } finally {
      peer.kill();
    }
  });

  it('drains on close: every client, calls in flight or not, sees 1001, never a dropped socket', async () => {
    demo = await startDemo();
    demo.server.callable('slow', () => new Promise(() => {}));
    // Without reconnecting: the point is the server's drain, and 1001 would otherwise send every client back.
    const users = await Promise.all(Array.from({ length: 20 }, () => demo!.connectAs('editor', { reconnect: false })));
    const inFlight = users.map((c) => c.call('slow').catch((e: { code: string }) => e.code));
    const closes = users.map((c) => c.closed);
    await demo.server.close();
    expect((await Promise.all(closes)).map((c) => c.code)).toEqual(users.map(() => CloseCode.goingAway));
    expect(await Promise.all(inFlight)).toEqual(users.map(() => 'ERR_CONNECTION_CLOSED'));
    demo = undefined;
  });

  it('counts text frames as refused frames and closes a text flood with 4003', async () => {
    demo = await startDemo({ connection: { maxBadFrames: 3 } });
    const ws = new WebSocket(demo.url, ['capsync.v1'], { headers: { authorization: `Bearer ${await demo.token('editor')}` } });
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    for (let i = 0; i < 10; i++) ws.send('not a capsync frame');
    expect(await closed).toBe(CloseCode.tooManyBadFrames);
  });
});
