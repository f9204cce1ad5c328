/**
 * protocol/ runs unchanged in a browser. Each entry below is bundled by esbuild for the browser platform and
 * must import no Node built-in (`node:*`, or a bare `crypto`, `buffer`, `fs`, ...), leave nothing external,
 * and contain no `require(` call. The entry then runs in a fresh V8 context that has only what a browser
 * page has (no `require`, `process`, `Buffer`, `module`), where a smoke script exercises it.
 *
 * To check another entry, add it to ENTRIES (a smoke script is optional).
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import { webcrypto } from 'node:crypto';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

interface Entry {
  /** Path from the repository root. */
  readonly path: string;
  /** Runs in the browser-like context with the entry's exports as `entry`; returns JSON to compare with `expected`. */
  readonly smoke?: { readonly script: string; readonly expected: unknown };
}

const ENTRIES: Entry[] = [
  {
    path: 'protocol/index.ts',
    smoke: {
      script: `
        const { Capability, Codec, ANY, matchScope, registerPortable } = entry;
        class Video { constructor(id, cap) { this.id = id; this.cap = cap; } }
        registerPortable(Video, { name: 'Video' });
        const codec = new Codec();
        const cap = new Capability(['youtube_videos', 'dQw4w9WgXcQ']).narrow(['update']);
        const [back, video, data] = codec.decode(codec.encode([cap, new Video('v', cap), { n: 1.5, s: 'é', b: new Uint8Array([1, 2]) }]));
        JSON.stringify({
          scope: back.scope,
          isCapability: back instanceof Capability,
          video: video instanceof Video && video.cap.scope.length,
          data: [data.n, data.s, Array.from(data.b)],
          match: matchScope(back.scope, ['youtube_videos', ANY, 'update']),
        });`,
      expected: {
        scope: ['youtube_videos', 'dQw4w9WgXcQ', 'update'],
        isCapability: true,
        video: 3,
        data: [1.5, 'é', [1, 2]],
        match: ['youtube_videos', 'dQw4w9WgXcQ', 'update'],
      },
    },
  },
  { path: 'client/browser.ts' },
];

const root = fileURLToPath(new URL('../../', import.meta.url));
const builtins = new Set(builtinModules.map((name) => name.replace(/^node:/, '')));

/** Marks every Node built-in external and records who imported it, instead of letting esbuild fail on the first. */
function nodeBuiltinRecorder(found: string[]): Plugin {
  return {
    name: 'node-builtin-recorder',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.replace(/^node:/, '');
        if (args.path.startsWith('node:') || builtins.has(bare) || builtins.has(bare.split('/')[0]!)) {
          found.push(`${args.path} (imported by ${args.importer.replace(root, '')})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

async function bundle(entry: string, format: 'esm' | 'iife') {
  const nodeImports: string[] = [];
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format,
    globalName: format === 'iife' ? 'entry' : undefined,
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [nodeBuiltinRecorder(nodeImports)],
  });
  const externals = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
  return { text: result.outputFiles[0]!.text, nodeImports, externals };
}

/** The globals of a browser page that these modules may touch; deliberately no require, process, Buffer, module. */
function browserContext(): object {
  const context = createContext({
    crypto: webcrypto,
    TextEncoder,
    TextDecoder,
    console,
    setTimeout,
    clearTimeout,
    queueMicrotask,
    performance,
    AbortController,
    AbortSignal,
    EventTarget,
    Event,
    URL,
    atob,
    btoa,
  });
  runInContext('globalThis.window = globalThis; globalThis.self = globalThis;', context);
  return context;
}

describe.each(ENTRIES)('browser bundle of $path', (entry) => {
  it('imports no Node built-in and leaves nothing external', async () => {
    const { nodeImports, externals } = await bundle(entry.path, 'esm');
    expect(nodeImports).toEqual([]);
    expect(externals).toEqual([]);
  });

  it('contains no require( call', async () => {
    const { text } = await bundle(entry.path, 'esm');
    expect(text.length).toBeGreaterThan(1000);
    expect(text.match(/(?<![\w$])(?:__)?require\s*\(/g) ?? []).toEqual([]);
  });

  it.runIf(entry.smoke !== undefined)('runs in a context with only browser globals', async () => {
    const { text } = await bundle(entry.path, 'iife');
    const context = browserContext();
    runInContext(text, context);
    for (const nodeGlobal of ['require', 'process', 'Buffer', 'module']) {
      expect(runInContext(`typeof ${nodeGlobal}`, context)).toBe('undefined');
    }
    const result: unknown = JSON.parse(runInContext(entry.smoke!.script, context) as string);
    expect(result).toEqual(entry.smoke!.expected);
  });
});

describe('the built-in check itself', () => {
  it('catches node: imports and bare built-in names', async () => {
    const found: string[] = [];
    await build({
      stdin: { contents: "import 'node:crypto'; import 'fs'; import 'buffer'; import 'stream/web';", resolveDir: root, loader: 'ts' },
      bundle: true,
      platform: 'browser',
      write: false,
      logLevel: 'silent',
      plugins: [nodeBuiltinRecorder(found)],
    });
    expect(found.map((f) => f.split(' ')[0])).toEqual(['node:crypto', 'fs', 'buffer', 'stream/web']);
  });
});
