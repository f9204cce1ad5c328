import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.js';

const template = fileURLToPath(new URL('../../examples/cluster/haproxy.cfg', import.meta.url));
const binary = process.env['HAPROXY'] ?? 'haproxy';

/** The repository's haproxy config with the front port and node ports replaced (8080, 8081, 8082, ...). */
export function haproxyConfig(front: number, nodes: readonly number[]): string {
  let text = readFileSync(template, 'utf8').replace('127.0.0.1:8080', `127.0.0.1:${front}`);
  nodes.forEach((port, i) => (text = text.replace(`127.0.0.1:${8081 + i}`, `127.0.0.1:${port}`)));
  return text;
}

/** GET `path` on 127.0.0.1:`port`: status and JSON body, or undefined if the connection failed. */
export function getJson(port: number, path: string): Promise<{ status: number; body: unknown } | undefined> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (d: string) => (text += d));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          resolve({ status: response.statusCode ?? 0, body: text });
        }
      });
    });
    request.on('error', () => resolve(undefined));
  });
}

/** Resolves once `check()` holds, tried every 50 ms; rejects after `limitMs` (a guard, not a synchronisation). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** haproxy running the repository's config in front of `nodes`; resolves once every node is up behind it. */
export async function startHaproxy(nodes: readonly number[]): Promise<{ port: number; url: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'capsync-haproxy-'));
  const port = await freePort();
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(port, nodes));
  const child = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (): void => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  process.once('exit', kill);
  const stop = async (): Promise<void> => {
    kill();
    await exited;
    process.removeListener('exit', kill);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Up once a request through it reaches a node (the health checks have then marked the nodes up).
    await eventually(async () => child.exitCode === null && (await getJson(port, '/healthz'))?.status === 200, `haproxy up (${log})`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, url: `ws://127.0.0.1:${port}`, stop };
}
