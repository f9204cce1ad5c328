import WebSocket from 'ws';
import { CapsyncClient, type ConnectOptions, type ConnectionState, type SocketFactory, type SocketLike } from '../../client/index.js';
import { CapsyncError, fail, isErrorCode } from '../../protocol/errors.js';
import { now } from '../peers/clock.js';

/**
 * A socket factory like `connect()`'s (client/index.ts), that also tells the benchmark when each socket was
 * dialled and opened, keeps the current socket (so the benchmark can drop it), can send the next dial to
 * another server (`target`), and records frame sizes while `recording`.
 */
export class Tap {
  /** Where the next dial goes instead of the client's URL (the same server under another store epoch). */
  target: string | undefined;
  recording = false;
  dials = 0;
  dialedAt = 0;
  openedAt = 0;
  current: WebSocket | undefined;
  readonly sent: number[] = [];
  readonly received: number[] = [];
  /** Runs first on every socket's open, before the client pipelines its resume. */
  onOpen: () => void = () => {};
  /** Every socket's end: whether it had opened, its close code and reason (a refused dial never opens). */
  onClose: (opened: boolean, code: number, reason: string) => void = () => {};

  readonly factory: SocketFactory = (url, token) => {
    let refusal: CapsyncError | undefined;
    this.dials++;
    this.dialedAt = now();
    const ws = new WebSocket(this.target ?? url, ['capsync.v1'], { headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false });
    this.current = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('unexpected-response', (_req, res) => {
      const code = res.headers['x-capsync-error'];
      refusal = isErrorCode(code) ? new CapsyncError(code) : fail('ERR_NOT_CONNECTED', `upgrade refused with HTTP ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
    // Registered before the client's own listeners, so these run first.
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.openedAt = now();
      this.onOpen();
    });
    ws.on('close', (code: number, reason: Buffer) => this.onClose(opened, code, reason.toString()));
    ws.on('message', (data: Buffer) => {
      if (this.recording) this.received.push(data.length);
    });
    const send = ws.send.bind(ws);
    ws.send = ((data: Buffer, ...rest: never[]) => {
      if (this.recording) this.sent.push(data.length);
      return send(data, ...rest);
    }) as typeof ws.send;
    return { socket: ws as unknown as SocketLike, failure: () => refusal };
  };

  /** Connects a client through this tap. */
  connect(url: string, options: ConnectOptions): Promise<CapsyncClient> {
    return CapsyncClient.connect(url, options, this.factory);
  }
}

/** Resolves at the client's next change to `state` (not its current one), or rejects if it closes first. */
export function nextState(client: CapsyncClient, state: ConnectionState): Promise<void> {
  return new Promise((resolve, reject) => {
    let first = true;
    const subscription = client.connectionState.subscribe((value) => {
      if (first) return;
      if (value === state) resolve();
      else if (value === 'closed') reject(new Error(`client closed (${client.lastClose?.code ?? '?'}) waiting for ${state}`));
      else return;
      queueMicrotask(() => subscription.unsubscribe());
    });
    first = false;
  });
}

/** A gate the token function waits at: the benchmark holds a client away until it has changed what it wants. */
export class Gate {
  #open: Promise<void> = Promise.resolve();
  #release: () => void = () => {};

  close(): void {
    this.#open = new Promise((resolve) => (this.#release = resolve));
  }

  open(): void {
    this.#release();
  }

  /** Resolves once the gate is open. */
  wait(): Promise<void> {
    return this.#open;
  }
}
