import type { Io } from './usage.js';

/** `capsync serve`: the demo server, exactly what `npm start` runs, with the same flags and `--help`. */
export async function runServe(args: string[], _io: Io): Promise<number> {
  // Loaded on demand: the other subcommands never open the SQLite store or its native module.
  const { runServe: serve } = await import('../examples/video/serve.js');
  return serve(args, 'capsync serve');
}
