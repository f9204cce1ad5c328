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
});
