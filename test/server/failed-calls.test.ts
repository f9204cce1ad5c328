import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { connect, type CapsyncClient } from '../../client/index.js';
import { Capability, CapsyncServer, consoleLogger, silentLogger, type Logger } from '../../server/index.js';
import { SECRET } from '../helpers.js';

let server: CapsyncServer | undefined;
let client: CapsyncClient | undefined;
afterEach(async () => {
  await client?.close();
  await server?.close();
  server = client = undefined;
  vi.restoreAllMocks();
});

async function serve(logger?: Logger): Promise<CapsyncClient> {
  server = await CapsyncServer.create({ auth: { secret: SECRET }, ...(logger ? { logger } : {}) });
  server.callable('describe', (_ctx, cap: Capability, text: string) => `${cap.scope.length}:${text}`, {
    args: z.tuple([z.instanceof(Capability), z.string().max(5)]),
  });
  server.callable('profile', (_ctx, p: { title: string }) => p.title, { args: z.tuple([z.object({ title: z.string() })]) });
  server.callable('broken', () => {
    throw new TypeError('cannot read properties of undefined');
  });
  server.callable('broken_later', async () => Promise.reject(new RangeError('index out of range')));
  await server.listen(0, '127.0.0.1');
  client = await connect(server.url, { token: await server.auth.issue({ id: 'editor', roles: ['editor'] }) });
  return client;
}

const failure = (promise: Promise<unknown>) => promise.then(() => expect.unreachable('the call succeeded'), (error: unknown) => error as { code: string; message: string });

describe('ERR_BAD_ARGUMENTS says which argument and what was expected', () => {
  it('names the argument index and the expectation, never the value', async () => {
    const c = await serve(silentLogger);
    const cap = server!.mint(['youtube_videos', 'v1']);
    const wrongType = await failure(c.call('describe', cap, 424242));
    expect(wrongType.code).toBe('ERR_BAD_ARGUMENTS');
    expect(wrongType.message).toBe('argument 1: expected string, received number');
    const tooLong = await failure(c.call('describe', cap, 'secret-text-here'));
    expect(tooLong.code).toBe('ERR_BAD_ARGUMENTS');
    expect(tooLong.message.startsWith('argument 1: ')).toBe(true);
    expect(tooLong.message).not.toContain('secret-text-here');
    expect((await failure(c.call('describe', 'not a capability', 'x'))).message.startsWith('argument 0: ')).toBe(true);
    expect((await failure(c.call('profile', { title: 7 }))).message).toBe('argument 0.title: expected string, received number');
  });

  it('says how many arguments were expected when there are too many', async () => {
    const c = await serve(silentLogger);
    const cap = server!.mint(['youtube_videos', 'v1']);
    const extra = await failure(c.call('describe', cap, 'x', 'y'));
    expect(extra.code).toBe('ERR_BAD_ARGUMENTS');
    expect(extra.message).toBe('expected at most 2 arguments, received 3');
  });
});

describe('failed calls are logged, naming the function', () => {
  it('logs a bug in a server function with its name, while the caller sees only ERR_FUNCTION_FAILED', async () => {
    const lines: string[] = [];
    const c = await serve(consoleLogger('warn', (line) => lines.push(line)));
    const sync = await failure(c.call('broken'));
    const later = await failure(c.call('broken_later'));
    expect([sync.code, later.code]).toEqual(['ERR_FUNCTION_FAILED', 'ERR_FUNCTION_FAILED']);
    expect(sync.message).not.toContain('undefined');
    const entries = lines.map((l) => JSON.parse(l) as { level: number; event: string; code: string; err?: { fn?: string; cause?: { type: string } } });
    const failed = entries.filter((e) => e.event === 'call');
    expect(failed.map((e) => [e.level, e.code, e.err?.fn, e.err?.cause?.type])).toEqual([
      [40, 'ERR_FUNCTION_FAILED', 'broken', 'TypeError'],
      [40, 'ERR_FUNCTION_FAILED', 'broken_later', 'RangeError'],
    ]);
  });

  it('logs warnings to stderr when no logger is given', async () => {
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    const c = await serve();
    await failure(c.call('broken'));
    const logged = stderr.mock.calls.map(([line]) => JSON.parse(String(line)) as { event: string; err?: { fn?: string } });
    expect(logged.find((e) => e.event === 'call')?.err?.fn).toBe('broken');
  });

  it('drops entries below its level, and silentLogger drops everything', () => {
    const lines: string[] = [];
    const logger = consoleLogger('warn', (line) => lines.push(line));
    logger.debug({ event: 'a' });
    logger.info({ event: 'b' });
    logger.warn({ event: 'c' });
    logger.error({ event: 'd', err: new Error('boom') });
    expect(lines.map((l) => JSON.parse(l) as { level: number; event: string; err?: { type: string; message: string } })).toEqual([
      { level: 40, time: expect.any(Number), event: 'c' },
      { level: 50, time: expect.any(Number), event: 'd', err: { type: 'Error', message: 'boom', stack: expect.any(String) } },
    ]);
    const quiet = consoleLogger('silent', (line) => lines.push(line));
    quiet.error({ event: 'e' });
    expect(lines).toHaveLength(2);
  });
});
