import { describe, expect, it } from 'vitest';
import { parseServeArgs, serveHelp } from '../../examples/video/config.js';

describe('server configuration', () => {
  it('takes flags first, then environment variables, then defaults', () => {
    expect(parseServeArgs([], {})).toMatchObject({ port: 8080, host: '127.0.0.1', data: './data', anonymous: false, devLogin: true });
    expect(parseServeArgs([], { CAPSYNC_PORT: '9000', CAPSYNC_ORIGINS: 'https://a.example, https://b.example', CAPSYNC_ANONYMOUS: 'true' })).toMatchObject({
      port: 9000,
      origins: ['https://a.example', 'https://b.example'],
      anonymous: true,
    });
    expect(parseServeArgs(['--port', '0', '--origin', 'https://c.example', '--no-dev-login'], { CAPSYNC_PORT: '9000' })).toMatchObject({
      port: 0,
      origins: ['https://c.example'],
      devLogin: false,
    });
  });

  it('refuses unknown flags and bad ports with ERR_BAD_ARGUMENTS', () => {
    expect(() => parseServeArgs(['--prot', '1'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    expect(() => parseServeArgs(['--port', '70000'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    expect(() => parseServeArgs(['--capability-keys', '/nonexistent/keys.json'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
  });

  it('takes the ping interval from --heartbeat-ms or CAPSYNC_HEARTBEAT_MS, 30 s by default, and refuses nonsense', () => {
    expect(parseServeArgs([], {}).heartbeatMs).toBe(30_000);
    expect(parseServeArgs([], { CAPSYNC_HEARTBEAT_MS: '500' }).heartbeatMs).toBe(500);
    expect(parseServeArgs(['--heartbeat-ms', '250'], { CAPSYNC_HEARTBEAT_MS: '500' }).heartbeatMs).toBe(250);
    for (const bad of ['0', '10', 'soon', '1.5']) {
      expect(() => parseServeArgs(['--heartbeat-ms', bad], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    }
  });

  it('documents every flag with its environment variable in --help', () => {
    const help = serveHelp();
    for (const flag of ['--port', '--data', '--jwt-secret', '--origin', 'CAPSYNC_PORT', 'CAPSYNC_ORIGINS']) expect(help).toContain(flag);
  });
});

describe('the --capability-keys file (SPEC section 7)', () => {
  it('reads a JWK set or a bare list, and refuses a file holding neither instead of generating a key', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'capsync-keys-'));
    try {
      const key = { kty: 'oct', k: 'a'.repeat(43), kid: 'k1' };
      const file = (name: string, text: string): string => (writeFileSync(join(dir, name), text), join(dir, name));
      expect(parseServeArgs(['--capability-keys', file('set.json', JSON.stringify({ keys: [key] }))], {}).capabilityKeys).toEqual([key]);
      expect(parseServeArgs(['--capability-keys', file('list.json', JSON.stringify([key]))], {}).capabilityKeys).toEqual([key]);
      for (const text of ['{}', '{"keys": 5}', '"key"']) {
        expect(() => parseServeArgs(['--capability-keys', file('bad.json', text)], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
