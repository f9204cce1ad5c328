import { CapsyncClient, type ConnectOptions, type SocketFactory, type SocketLike } from '../../client/client.js';
import type { CapsyncError } from '../../protocol/errors.js';
import { callServer } from '../../protocol/attach.js';
import type { Capability } from '../../protocol/capability/capability.js';
import { Codec } from '../../protocol/codec.js';
import { clientFrameTypes, FrameType, validateFrame, type Frame } from '../../protocol/frames.js';
import { InboundHandles } from '../../protocol/handles.js';
import { registerPortable } from '../../protocol/portable.js';
import type { CapabilityVerifier } from '../../protocol/verifier.js';
import { makeVerifier } from '../protocol/helpers.js';

/** A portable live class for these tests; `rename` is the method a hostile push would try to shadow. */
export class Note {
  id: string;
  text: string;
  version?: number;
  declare cap: Capability;

  constructor(id: string, text: string) {
    this.id = id;
    this.text = text;
  }

  rename(text: string): Promise<number> {
    return callServer(this, 'rename_note', this.cap, text);
  }
}
registerPortable(Note, { name: 'test.client.Note', address: (n) => ['notes', n.id] });

/**
 * The server's end of an in-memory socket: it hands the client frames encoded by a server-side codec (with
 * a verifier, so capabilities are signed), and decodes what the client sends as a server would. No network,
 * no server: every frame arrives exactly when the test says so.
 */
export class FakeServer {
  /** The client's current socket: a reconnecting client gets a new one per attempt. */
  socket!: FakeSocket;
  /** Every socket the client opened, oldest first. */
  readonly sockets: FakeSocket[] = [];
  /** The token the client presented at each attempt. */
  readonly tokens: (string | undefined)[] = [];
  /** What the next attempt does: open (the default), or fail as a refused upgrade with this error's code. */
  refuseNext: (() => CapsyncError) | undefined;
  /** Frames the client sent, decoded and validated as a server would. */
  readonly received: Frame[] = [];
  /** The bytes of every message the client sent, readable or not. */
  readonly bytes: Uint8Array[] = [];
  /** The error codes of messages a server would have refused. */
  readonly refused: string[] = [];
  readonly codec = new Codec();
  readonly verifier: CapabilityVerifier;
  readonly #user: string | null;
  #inbound: { verifier: CapabilityVerifier; user: string | null; inboundHandles: InboundHandles };

  private constructor(verifier: CapabilityVerifier, user: string | null) {
    this.verifier = verifier;
    this.#user = user;
    this.#inbound = { verifier, user, inboundHandles: new InboundHandles() };
    this.#open(undefined);
  }

  /** The socket factory a client connects through: a new socket per attempt, each with its own handle table. */
  readonly factory: SocketFactory = (_url, token) => {
    // The first socket exists before the client asks, so a test can script it; later ones are made here.
    const socket = this.tokens.length === 0 ? this.socket : this.#open(token);
    this.tokens.push(token);
    const refusal = this.refuseNext;
    this.refuseNext = undefined;
    if (refusal !== undefined) queueMicrotask(() => socket.closeFromServer(1006, ''));
    return { socket, failure: refusal };
  };

  #open(_token: string | undefined): FakeSocket {
    this.#inbound = { verifier: this.verifier, user: this.#user, inboundHandles: new InboundHandles() };
    const socket = new FakeSocket((bytes) => {
      if (socket === this.socket) this.#receive(bytes);
    });
    this.socket = socket;
    this.sockets.push(socket);
    this.#firstOfSocket = this.received.length;
    return socket;
  }

  /** A fake server for `user` and a client connecting to it (the connect promise is not awaited: say hello first). */
  static async start(options: ConnectOptions = {}, user: string | null = 'alice'): Promise<{ server: FakeServer; connecting: Promise<CapsyncClient> }> {
    const { verifier } = await makeVerifier();
    const server = new FakeServer(verifier, user);
    const connecting = CapsyncClient.connect('memory://capsync', options, server.factory);
    return { server, connecting };
  }

  /** A fake server and a client past the hello. */
  static async connected(options: ConnectOptions = {}, hello: Partial<HelloFields> = {}): Promise<{ server: FakeServer; client: CapsyncClient }> {
    const { server, connecting } = await FakeServer.start(options);
    server.hello(hello);
    return { server, client: await connecting };
  }

  /** Sends the hello frame. */
  hello(fields: Partial<HelloFields> = {}): void {
    this.send([FrameType.hello, { protocol: 1, user: { id: 'alice', roles: ['editor'] }, maxFrameBytes: 1 << 20, tokenExpiresAt: null, ...fields }]);
  }

  /** Encodes `frame` as the server would (signing capabilities) and delivers it to the client. */
  send(frame: unknown[]): void {
    this.sendBytes(this.codec.encode(frame, { verifier: this.verifier }));
  }

  /** Delivers raw bytes to the client. */
  sendBytes(bytes: Uint8Array): void {
    this.socket.deliver(bytes);
  }

  /** The frames the client sent on its current socket. */
  get receivedNow(): Frame[] {
    return this.received.slice(this.#firstOfSocket);
  }

  /** The last frame the client sent. */
  get last(): Frame {
    const frame = this.received.at(-1);
    if (frame === undefined) throw new Error('the client sent nothing');
    return frame;
  }

  #firstOfSocket = 0;

  #receive(bytes: Uint8Array): void {
    this.bytes.push(bytes);
    // A real server answers a bad frame with an error frame; it never throws into the client's send().
    try {
      this.received.push(validateFrame(this.codec.decode(bytes, this.#inbound), clientFrameTypes));
    } catch (error) {
      this.refused.push((error as { code?: string }).code ?? String(error));
    }
  }

  /** The server drops the connection. */
  drop(code = 1006, reason = ''): void {
    this.socket.closeFromServer(code, reason);
  }
}

/** The hello frame's map. */
export interface HelloFields {
  protocol: 1;
  user: { id: string; roles: string[] } | null;
  maxFrameBytes: number;
  /** The server's announced limits (protocol/limits.ts `announcedLimitNames`); an older server sends none. */
  limits: Record<string, number>;
  tokenExpiresAt: number | null;
  pingIntervalMs: number;
  epoch: string;
  seq: number;
  callKeyWindowMs: number;
}

/** An in-memory {@link SocketLike}: open from the start, synchronous in both directions. */
export class FakeSocket implements SocketLike {
  binaryType = 'arraybuffer';
  readyState = 1;
  /** Every close the client asked for. */
  readonly closeRequests: { code: number | undefined; reason: string | undefined }[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly #toServer: (bytes: Uint8Array) => void;

  constructor(toServer: (bytes: Uint8Array) => void) {
    this.#toServer = toServer;
  }

  send(data: Uint8Array): void {
    if (this.readyState !== 1) return;
    this.#toServer(data);
  }

  close(code?: number, reason?: string): void {
    this.closeRequests.push({ code, reason });
    this.closeFromServer(code ?? 1005, reason ?? '');
  }

  /** Hands the client one message. */
  deliver(data: unknown): void {
    if (this.readyState !== 1) throw new Error('socket is closed');
    this.onmessage?.({ data });
  }

  /** Ends the socket with a close event. */
  closeFromServer(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}
