import { afterEach, describe, expect, it, vi } from 'vitest';
import { RequestManager } from '../../client/requests.js';
import { fail } from '../../protocol/errors.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('the request manager', () => {
  it('numbers requests 1, 2, 3 and settles each by its id', async () => {
    const requests = new RequestManager(1000);
    const sent: unknown[][] = [];
    const a = requests.start((id) => ['a', id], (frame) => sent.push(frame));
    const b = requests.start((id) => ['b', id], (frame) => sent.push(frame));
    expect(sent).toEqual([['a', 1], ['b', 2]]);
    expect(requests.resolve(2, 'B')).toBe(true);
    expect(requests.resolve(2, 'again')).toBe(false);
    expect(requests.reject(1, fail('ERR_NOT_FOUND'))).toBe(true);
    await expect(b).resolves.toBe('B');
    await expect(a).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(requests.size).toBe(0);
  });

  it('settles a request answered while it is still being sent', async () => {
    const requests = new RequestManager(1000);
    const answered = requests.start((id) => [id], ([id]) => requests.resolve(id as number, 'at once'));
    await expect(answered).resolves.toBe('at once');
  });

  it('fails a request whose frame cannot be sent with the sender\'s error, and forgets it', async () => {
    const requests = new RequestManager(1000);
    await expect(requests.start((id) => [id], () => {
      throw fail('ERR_NOT_ENCODABLE');
    })).rejects.toMatchObject({ code: 'ERR_NOT_ENCODABLE' });
    expect(requests.size).toBe(0);
  });

  it('lists the requests still waiting, oldest first, with their frames to send again', () => {
    const requests = new RequestManager(1000);
    for (const name of ['a', 'b', 'c']) void requests.start((id) => [name, id], () => {}).catch(() => {});
    requests.resolve(2, null);
    expect(requests.inFlight()).toEqual([{ id: 1, frame: ['a', 1] }, { id: 3, frame: ['c', 3] }]);
    requests.failAll(fail('ERR_CONNECTION_CLOSED'));
  });

  it('times out with one timer for all requests, each at its own deadline', async () => {
    vi.useFakeTimers();
    const requests = new RequestManager(1000);
    const outcomes: string[] = [];
    const track = (name: string, p: Promise<unknown>) => p.catch((e: { code: string }) => outcomes.push(`${name}:${e.code}`));
    track('a', requests.start((id) => [id], () => {}));
    await vi.advanceTimersByTimeAsync(300);
    track('b', requests.start((id) => [id], () => {}));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(701);
    expect(outcomes).toEqual(['a:ERR_CALL_TIMEOUT']);
    await vi.advanceTimersByTimeAsync(300);
    expect(outcomes).toEqual(['a:ERR_CALL_TIMEOUT', 'b:ERR_CALL_TIMEOUT']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fails everything waiting at once and stops its timer', async () => {
    vi.useFakeTimers();
    const requests = new RequestManager(1000);
    const pending = [requests.start((id) => [id], () => {}), requests.start((id) => [id], () => {})];
    requests.failAll(fail('ERR_CONNECTION_CLOSED'));
    for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
