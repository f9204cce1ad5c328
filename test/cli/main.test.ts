import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, root, runCli, startCli } from './helpers.js';

describe('capsync', () => {
  it('lists its commands with --help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['serve', 'call', 'token', 'test']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it('exits 2 with the usage when no command is given', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: capsync <command>');
  });

  it('exits 2 for an unknown command, without a stack trace', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it.each(['serve', 'call', 'token', 'test'])('has --help for %s, also through "capsync help"', async (command) => {
    const direct = await runCli([command, '--help']);
    expect(direct.code).toBe(0);
    expect(direct.stdout).toContain(`Usage: capsync ${command}`);
    const viaHelp = await runCli(['help', command]);
    expect(viaHelp).toMatchObject({ code: 0, stdout: direct.stdout });
  });

  it('exits 2 for an unknown flag and names the command to ask for help', async () => {
    const r = await runCli(['call', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--frobnicate');
    expect(r.stderr).toContain('capsync call --help');
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('serve refuses a bad port with exit 2 and names its help', async () => {
    const r = await runCli(['serve', '--port', 'eighty']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--port must be an integer');
    expect(r.stderr).toContain('capsync serve --help');
  });

  it('serve runs the demo server: it listens, issues dev tokens, answers calls, and stops on SIGTERM', async () => {
    const server = await startCli(['serve', '--port', '0', '--data', ':memory:', '--log-level', 'silent'], /listening on (ws:\/\/[\d.:]+)/);
    try {
      const url = server.match[1]!;
      const r = await runCli(['call', url, 'get_my_videos', '--user', 'admin', '--compact']);
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout) as { cap: { scope: unknown[] } }[]).map((v) => v.cap.scope.length)).toEqual([2, 2, 2]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
