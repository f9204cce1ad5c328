import { afterEach, describe, expect, it, vi } from 'vitest';
import { FrameType } from '../../protocol/frames.js';
import { FakeServer } from '../client/fake-server.js';

afterEach(() => {
  vi.useRealTimers();
});

describe("the client's wait for its resume answer", () => {
  // Found by bench:resume's 10,000-client herd: clients gave up on sockets the busy server had accepted and
  // was answering (sockets "opened 4000"), and queued their resume again behind everyone else's.
  it('gives up after connectTimeoutMs of silence, not of waiting: a server that keeps sending is working on it', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected({ reconnect: { random: () => 0.5 }, connectTimeoutMs: 1000 }, { epoch: 'e1' });
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    expect(server.sockets).toHaveLength(2);
    const resuming = server.socket;
    expect(server.receivedNow.map((f) => f[0])).toEqual([FrameType.resume]);
    server.hello({ epoch: 'e1' });
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(900);
      server.send([FrameType.push, ['notes', 'other'], 'test.client.Note', i + 2, { text: 'busy' }, i + 2]);
    }
    // 3.6 s after the resume was sent: still waiting on the same socket.
    expect(resuming.closeRequests).toEqual([]);
    expect(client.connectionState.value).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1000);
    // Silent for a whole connectTimeoutMs: given up (4000), and another attempt follows.
    expect(resuming.closeRequests.map((r) => r.code)).toEqual([4000]);
    await client.close();
  });

  // Found by bench:resume's 5,000-client herd at load 20: every client gave up on its queued socket after
  // 10 s and dialled again at the back of the queue, and the server answered sockets nobody waited on any
  // more: 0 of 5,000 resumed in 120 s.
  it('waits twice as long after each attempt in a row that got no answer, up to 8 times, and starts over once resumed', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected({ reconnect: { random: () => 0 }, connectTimeoutMs: 1000 }, { epoch: 'e1' });
    let seen = server.sockets.length;
    /** The next attempt's socket (the backoff is 0 here: a 0 ms timer, so within the fake clock's next ms). */
    const nextSocket = async (): Promise<void> => {
      for (let i = 0; i < 10 && server.sockets.length === seen; i++) await vi.advanceTimersByTimeAsync(1);
      expect(server.sockets.length).toBe(seen + 1);
      seen = server.sockets.length;
    };
    server.drop();
    /** Advances until the current socket is given up; returns how long it was waited on (ms, to 100 ms). */
    const waitedOn = async (): Promise<number> => {
      await nextSocket();
      const socket = server.socket;
      let waited = 0;
      while (socket.closeRequests.length === 0 && waited < 20_000) {
        await vi.advanceTimersByTimeAsync(100);
        waited += 100;
      }
      expect(socket.closeRequests.map((r) => r.code)).toEqual([4000]);
      return waited;
    };
    // No hello at all: 1, 2, 4, 8 s, and 8 s again (the cap).
    expect([await waitedOn(), await waitedOn(), await waitedOn(), await waitedOn(), await waitedOn()]).toEqual([1000, 2000, 4000, 8000, 8000]);
    // Answered: the next drop starts from connectTimeoutMs again.
    await nextSocket();
    server.hello({ epoch: 'e1' });
    const resume = server.receivedNow.find((f) => f[0] === FrameType.resume)!;
    server.send([FrameType.result, resume[1], { epoch: 'e1', seq: 0, refused: [], sent: 0, snapshot: false }]);
    await vi.advanceTimersByTimeAsync(0);
    expect(client.connectionState.value).toBe('connected');
    seen = server.sockets.length;
    server.drop();
    expect(await waitedOn()).toBe(1000);
    await client.close();
  });
});
