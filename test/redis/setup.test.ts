import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServeArgs } from '../../examples/video/config.js';
import { loadIoredis } from '../../server/redis/connection.js';
import { connectRedis, durabilityOf } from '../../server/redis/index.js';
import { freePort, startRedis, type RedisServer } from './redis-server.js';

const started: RedisServer[] = [];
afterAll(async () => {
  for (const server of started) await server.stop();
});

/** A logger that keeps what it was given. */
function recorder(): { entries: { level: string; entry: Record<string, unknown> }[]; logger: Record<'debug' | 'info' | 'warn' | 'error', (e: object) => void> } {
  const entries: { level: string; entry: Record<string, unknown> }[] = [];
  const at = (level: string) => (entry: object) => entries.push({ level, entry: entry as Record<string, unknown> });
  return { entries, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('Redis durability, checked at start', () => {
  it('reads the config as a durability', () => {
    expect(durabilityOf('yes', 'always')).toBe('always');
    expect(durabilityOf('yes', 'everysec')).toBe('everysec');
    expect(durabilityOf('yes', 'no')).toBe('none');
    expect(durabilityOf('no', 'always')).toBe('none');
  });

  it('refuses a Redis without AOF by default, saying what to set; warns instead when asked; accepts it for none', async () => {
    const weak = await startRedis({ aof: false });
    started.push(weak);
    await expect(connectRedis({ url: weak.url })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringMatching(/appendfsync always/) });
    await expect(connectRedis({ url: weak.url, durability: 'everysec' })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    const { entries, logger } = recorder();
    const warned = await connectRedis({ url: weak.url, weakerDurability: 'warn', logger });
    expect(warned.durability).toBe('none');
    expect(entries.some((e) => e.level === 'warn' && e.entry['event'] === 'redis_durability_weaker')).toBe(true);
    await warned.store.close();
    const none = await connectRedis({ url: weak.url, durability: 'none' });
    await none.store.close();
  });

  it('accepts AOF with fsync always for every mode', async () => {
    const strong = await startRedis();
    started.push(strong);
    for (const durability of ['always', 'everysec'] as const) {
      const backend = await connectRedis({ url: strong.url, durability });
      expect(backend.durability).toBe('always');
      await backend.store.close();
    }
  });

  it('fails with a typed error, not a hang, when Redis is not there or ioredis is missing', async () => {
    const port = await freePort();
    await expect(connectRedis({ url: `redis://127.0.0.1:${port}` })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringContaining(`127.0.0.1:${port}`) });
    expect(() => loadIoredis(() => { throw new Error('Cannot find module'); })).toThrow(expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' }));
  });
});

describe('capsync serve --redis', () => {
  it('takes the URL from the flag or CAPSYNC_REDIS_URL, and the durability', () => {
    expect(parseServeArgs(['--redis', 'redis://127.0.0.1:6379'], {})).toMatchObject({ redis: 'redis://127.0.0.1:6379', redisDurability: 'always' });
    expect(parseServeArgs([], { CAPSYNC_REDIS_URL: 'redis://r:6380/2', CAPSYNC_REDIS_DURABILITY: 'everysec' })).toMatchObject({ redis: 'redis://r:6380/2', redisDurability: 'everysec' });
    expect(parseServeArgs([], {}).redis).toBeUndefined();
  });

  it('refuses what is not a Redis URL or a durability', () => {
    expect(() => parseServeArgs(['--redis', 'http://x'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    expect(() => parseServeArgs(['--redis', '127.0.0.1:6379'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    expect(() => parseServeArgs(['--redis-durability', 'sometimes'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
  });
});

describe('README "Running several nodes"', () => {
  it('shows the haproxy config the multi-node tests run, exactly', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const shown = /```haproxy\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(shown).toBe(readFileSync(new URL('../../examples/cluster/haproxy.cfg', import.meta.url), 'utf8'));
  });
});
