import { CapsyncError } from '../../server/index.js';
import type { ServeConfig } from './config.js';

const hostProblems = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EADDRNOTAVAIL', 'EINVAL']);

/**
 * The one line that explains why the server did not start, when the cause is the user's setup (a busy
 * port, a host this machine does not have, a short secret, a data folder that is a file, ...); undefined
 * for anything else, which is a bug and is reported as one.
 */
export function startupProblem(error: unknown, config: ServeConfig): string | undefined {
  if (error instanceof CapsyncError) {
    switch (error.code) {
      case 'ERR_KEY_INVALID':
      case 'ERR_BAD_ARGUMENTS':
      case 'ERR_STORE_UNAVAILABLE':
        return error.message;
      default:
        return undefined;
    }
  }
  const e = error as NodeJS.ErrnoException & { syscall?: string };
  const where = `${config.host}:${config.port}`;
  if (e?.syscall === 'listen' || e?.syscall === 'bind' || e?.syscall === 'getaddrinfo') {
    if (e.code === 'EADDRINUSE') return `port ${config.port} is already in use on ${config.host}: stop what listens there, or pick another with --port (0 picks a free one)`;
    if (e.code === 'EACCES') return `no permission to listen on ${where}: ports below 1024 need privileges; pick another with --port`;
    if (e.code !== undefined && hostProblems.has(e.code)) return `cannot listen on --host ${config.host}: it is not an address of this machine (${e.code})`;
  }
  if (/^(SQLITE_CANTOPEN|SQLITE_READONLY|SQLITE_NOTADB|SQLITE_IOERR)/.test(String(e?.code))) {
    return `cannot open the store in --data ${config.data}: ${e.message} (${e.code})`;
  }
  return undefined;
}

/**
 * A warning line when `--origin` leaves out the dashboard's own address: the page would load and then have
 * its WebSocket refused (it explains that itself, this says it at startup too). Empty when nothing is wrong.
 */
export function dashboardOriginHint(config: ServeConfig, dashboardUrl: string): string {
  const origins = config.origins;
  if (origins === undefined || origins.includes('*')) return '';
  const own = new URL(dashboardUrl).origin;
  if (origins.includes(own)) return '';
  return `\n  warning: --origin does not list ${own}, so the dashboard served there cannot connect; add --origin ${own}`;
}
