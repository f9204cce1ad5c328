import type { CapsyncErrorCode } from '../../protocol/errors.js';
import type { EventKind } from './schema.js';

/** One expectation, after validation. Values may still hold templates: they are resolved when the step runs. */
export type Expectation =
  | { readonly kind: 'equals'; readonly value: unknown }
  | { readonly kind: 'match'; readonly pattern: unknown }
  | { readonly kind: 'error'; readonly code: CapsyncErrorCode };

/** What every step has: its number (from 1), optional label, and where it starts in the file. */
interface StepBase {
  readonly index: number;
  readonly name: string | undefined;
  readonly line: number;
}

interface Expecting {
  readonly expect: readonly Expectation[];
  readonly save: string | undefined;
  readonly timeout: number | undefined;
}

/** A validated step, in the runner's terms. */
export type Step = StepBase &
  (
    | ({ readonly kind: 'connect'; readonly clients: readonly string[] } & Expecting)
    | { readonly kind: 'disconnect'; readonly clients: readonly string[] }
    | ({ readonly kind: 'call'; readonly client: string; readonly function: string; readonly args: readonly unknown[] } & Expecting)
    | {
        readonly kind: 'narrow';
        readonly from: unknown;
        readonly suffix: readonly unknown[];
        readonly expiresInMs: number | undefined;
        readonly expiresAt: number | undefined;
        readonly audience: string | undefined;
        readonly save: string;
      }
    | { readonly kind: 'forge'; readonly scope: readonly unknown[]; readonly signatureOf: unknown; readonly save: string }
    | ({ readonly kind: 'delegate'; readonly client: string; readonly cap: unknown; readonly to: string; readonly bind: boolean; readonly bearer: boolean } & Expecting)
    | ({ readonly kind: 'revoke'; readonly client: string; readonly cap: unknown } & Expecting)
    | ({ readonly kind: 'presence'; readonly client: string } & Expecting)
    | ({ readonly kind: 'wait'; readonly client: string; readonly for: EventKind; readonly match: unknown; readonly hasMatch: boolean } & Expecting)
    | ({ readonly kind: 'send'; readonly client: string; readonly payload: Payload; readonly repeat: number } & Expecting)
    | { readonly kind: 'check'; readonly value: unknown; readonly expect: readonly Expectation[] }
    | { readonly kind: 'quiet'; readonly client: string; readonly ms: number; readonly for: readonly EventKind[] }
    | { readonly kind: 'let'; readonly values: Readonly<Record<string, unknown>> }
  );

/** What a `send` step puts on the wire. */
export type Payload = { readonly hex: string } | { readonly frame: unknown } | { readonly text: string };

/** A validated script. */
export interface Script {
  readonly file: string;
  readonly name: string;
  readonly url: string | undefined;
  readonly timeout: number;
  readonly continueOnFailure: boolean;
  readonly imports: readonly string[];
  readonly clients: Readonly<Record<string, ClientSpec>>;
  readonly steps: readonly Step[];
}

/** How a client authenticates: a token, a development login, or neither (anonymous). */
export interface ClientSpec {
  readonly login: string | undefined;
  /** With `login`: the user id to log in as, with the `login` user's roles (e.g. `"guest-${run.id}"`). */
  readonly as: string | undefined;
  readonly token: string | undefined;
  readonly url: string | undefined;
}
