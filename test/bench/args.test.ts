import { afterEach, describe, expect, it, vi } from 'vitest';
import { benchArgs } from '../../bench/args.js';

/** What a benchmark's command line does with `--help`, an unknown option and a bad value (no stack trace). */
describe('benchArgs', () => {
  const options = { runs: { type: 'string', default: '5' }, json: { type: 'boolean' } } as const;

  afterEach(() => vi.restoreAllMocks());

  function exits(args: string[]): { code: number | undefined; out: string; err: string } {
    let out = '';
    let err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    let code: number | undefined;
    vi.spyOn(process, 'exit').mockImplementation(((c?: number) => {
      code = c;
      throw new Error('exit');
    }) as never);
    try {
      benchArgs('bench:example', { args, options });
    } catch (error) {
      if ((error as Error).message !== 'exit') throw error;
    }
    return { code, out, err };
  }

  it('parses known options with their defaults', () => {
    expect(benchArgs('bench:example', { args: ['--json'], options }).values).toEqual({ runs: '5', json: true });
  });

  it('prints the options for --help and exits 0', () => {
    const { code, out } = exits(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: npm run bench:example -- [options]');
    expect(out).toContain('--runs VALUE (default 5)');
  });

  it('names an unknown option or a missing value in one line and exits 2', () => {
    const unknown = exits(['--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.err.split('\n')[0]).toMatch(/^bench:example: .*--bogus/);
    expect(unknown.err).not.toContain('    at ');
    const missing = exits(['--runs']);
    expect(missing.code).toBe(2);
    expect(missing.err.split('\n')[0]).toMatch(/^bench:example: .*--runs/);
  });
});
