import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * The command line of a benchmark (`command`: its npm script), parsed strictly: `--help` prints the options and exits 0; an unknown
 * option or a bad value prints one line and the options, and exits 2 (no stack trace).
 */
export function benchArgs<T extends ParseArgsConfig & { options: NonNullable<ParseArgsConfig['options']> }>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  const args = config.args ?? process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usageOf(command, config.options));
    process.exit(0);
  }
  try {
    return parseArgs({ ...config, args, strict: true } as T);
  } catch (error) {
    process.stderr.write(`${command}: ${(error as Error).message}\n\n${usageOf(command, config.options)}`);
    process.exit(2);
  }
}

function usageOf(command: string, options: NonNullable<ParseArgsConfig['options']>): string {
  const lines = Object.entries(options).map(([name, option]) => {
    const value = option.type === 'string' ? ' VALUE' : '';
    const fallback = option.default !== undefined && option.type === 'string' ? ` (default ${String(option.default)})` : '';
    return `  --${name}${value}${fallback}`;
  });
  return `Usage: npm run ${command} -- [options]\n\n${lines.join('\n')}\n  --help\n`;
}
