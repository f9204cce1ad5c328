import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Imports the package by its own name, as a user would after `npm install capsync`, from the built dist/. */
function importFromNode(specifier: string, expression: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier)}); console.log(${expression});`], {
    cwd: root,
    encoding: 'utf8',
  }).trim();
}

describe('the package entry points', () => {
  it('exports the isomorphic core as capsync', () => {
    expect(importFromNode('capsync', "[typeof m.Capability, typeof m.unwrapCapability, typeof m.ANY, typeof m.Codec, typeof m.CapsyncError].join(',')")).toBe(
      'function,function,symbol,function,function',
    );
  });

  it('exports the server as capsync/server and the Node client as capsync/client', () => {
    expect(importFromNode('capsync/server', 'typeof m.CapsyncServer')).toBe('function');
    expect(importFromNode('capsync/client', 'typeof m.connect')).toBe('function');
  });

  it('exports the Redis backend as capsync/redis (kept apart: its types name ioredis, an optional dependency)', () => {
    expect(importFromNode('capsync/redis', "[typeof m.connectRedis, typeof m.RedisStore, typeof m.RedisFanout, typeof m.checkDurability].join(',')")).toBe('function,function,function,function');
  });
});
