import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from './usage.js';

/**
 * Loads the modules that register the portable classes a server sends. A client drops any frame holding a
 * portable object whose class it does not know, so the command line must know them too. The demo's `Video`
 * is always loaded; `--import` adds others (paths relative to `base`, or package names).
 */
export async function loadPortables(modules: readonly string[], base: string): Promise<void> {
  await import('../examples/video/video.js');
  for (const spec of modules) {
    const url = spec.startsWith('.') || spec.startsWith('/') ? pathToFileURL(resolve(base, spec)).href : spec;
    try {
      await import(url);
    } catch (error) {
      throw new UsageError(`cannot import ${JSON.stringify(spec)}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
}
