import { z } from 'zod';
import { isErrorCode } from '../../protocol/errors.js';

/**
 * The script format of `capsync test`, as zod schemas. They validate scripts and generate
 * docs/script.schema.json (`capsync test --schema`); docs/scripts.md explains each field.
 */

/** Kinds of things a client can receive without asking, which `wait` and `expect: {nothing}` look at. */
export const eventKinds = ['push', 'delegation', 'revocation', 'error', 'reply', 'close', 'token-expiring'] as const;
export type EventKind = (typeof eventKinds)[number];

/** Any value (a JSON value, a template string, or a value's JSON form); required where it appears. */
function anyValue(description: string) {
  return z.custom<unknown>((v) => v !== undefined, { error: 'a value is required' }).meta({ description });
}

export const clientName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, { error: 'a client name is letters, digits, "_" and "-", starting with a letter or "_"' })
  .meta({ id: 'clientName', description: 'A client declared under `clients`.' });

export const variableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'a saved name is letters, digits and "_", starting with a letter or "_"' })
  .refine((n) => n !== 'env', { error: '"env" is reserved: ${env.NAME} reads environment variables' })
  .refine((n) => n !== 'run', { error: '"run" is reserved: ${run.id} is the id of this run' })
  .meta({ id: 'savedName', description: 'A name for a saved value; later steps use it as "${name}".' });

export const errorCode = z
  .string()
  .regex(/^ERR_[A-Z0-9_]+$/, { error: 'an error code looks like ERR_CAPABILITY_REVOKED' })
  .refine(isErrorCode, { error: 'not a capsync error code (see protocol/errors.ts)' })
  .meta({ id: 'errorCode', description: 'A capsync error code, e.g. ERR_CAPABILITY_REVOKED.' });

const ms = z.number().int().min(0).max(3_600_000).meta({ id: 'milliseconds' });
// Fresh instances per use: the JSON Schema then inlines them instead of naming each shared wrapper.
const timeout = () => ms.meta({ description: 'Milliseconds to wait for this step (default: the script\'s `timeout`).' }).optional();
const save = () => variableName.optional();
const eventKind = z.enum(eventKinds).meta({ id: 'eventKind' });

export const expectationSchemas = {
  equals: z.strictObject({ equals: anyValue('The value must equal this (maps compare without key order).') }),
  match: z.strictObject({ match: anyValue('The value must match this partial pattern (see "Patterns").') }),
  error: z.strictObject({ error: errorCode.meta({ description: 'The step must fail with this error code.' }) }),
};

const expectation = z.union([expectationSchemas.equals, expectationSchemas.match, expectationSchemas.error]).meta({ id: 'expectation' });
/** `expect:` on a step: one expectation or a list. */
export const expectationsSchema = z
  .union([expectation, z.array(expectation).min(1)])
  .meta({ id: 'expectations', description: 'What must hold: {equals}, {match} or {error}; a list for several. Without it the step must succeed.' });

/** The forms of the `expect` step: check a saved value, or check that a client receives nothing. */
export const expectStepForms = {
  equals: z.strictObject({ value: anyValue('The value to check, e.g. "${videos}".'), equals: anyValue('It must equal this.') }),
  match: z.strictObject({ value: anyValue('The value to check, e.g. "${videos}".'), match: anyValue('It must match this pattern.') }),
  nothing: z.strictObject({
    client: clientName,
    nothing: ms.meta({ description: 'After a round trip, nothing may arrive for this many ms.' }),
    for: z.union([eventKind, z.array(eventKind).min(1)]).optional().meta({ description: 'Only these kinds count (default all).' }),
  }),
};

function connectObject(expect: z.ZodType) {
  return z.strictObject({ client: clientName, expect: expect.optional(), save: save(), timeout: timeout() });
}

/** Builds the action schemas around `expect` (the real union for the JSON Schema, a placeholder while validating). */
function actionSchemas(expect: z.ZodType) {
  const common = () => ({ expect: expect.optional(), save: save(), timeout: timeout() });
  return {
    connect: z.union([clientName, z.array(clientName).min(1), connectObject(expect)]),
    disconnect: z.union([clientName, z.array(clientName).min(1)]),
    call: z.strictObject({
      client: clientName,
      function: z.string().min(1).max(256).meta({ description: 'The server function\'s name.' }),
      args: z.array(z.unknown()).optional().meta({ description: 'The arguments, in order (default none).' }),
      ...common(),
    }),
    narrow: z.strictObject({
      from: anyValue('The capability to narrow, usually "${saved.cap}".'),
      suffix: z.array(z.unknown()).optional().meta({ description: 'Appended to the scope (default []: same scope, new chain step).' }),
      expiresInMs: ms.optional().meta({ description: 'Expires this many ms after the step runs.' }),
      expiresAt: z.number().int().min(0).optional().meta({ description: 'Expires at this time (ms since the epoch).' }),
      audience: z.string().optional().meta({ description: 'Only this user id may use it.' }),
      save: variableName,
    }),
    forge: z.strictObject({
      scope: z.array(z.unknown()).min(1).meta({ description: 'The scope of the forged capability.' }),
      signatureOf: anyValue('Copy this capability\'s key id and signature onto the forged scope (a tampered token).').optional(),
      save: variableName,
    }),
    delegate: z.strictObject({
      client: clientName,
      cap: anyValue('The capability to delegate (narrow it first).'),
      to: z.string().min(1).max(256).meta({ description: 'The recipient\'s user id (not a client name).' }),
      bind: z.boolean().optional().meta({ description: 'Accepted for old scripts; changes nothing: a delegation is always re-minted bound to the recipient unless `bearer`.' }),
      bearer: z.boolean().optional().meta({ description: 'Deliver an unbound (bearer) capability: anyone who obtains it can use it. Default false.' }),
      ...common(),
    }),
    revoke: z.strictObject({ client: clientName, cap: anyValue('The capability to revoke.'), ...common() }),
    presence: z.strictObject({ client: clientName, ...common() }),
    wait: z.strictObject({
      client: clientName,
      for: eventKind.meta({ description: 'What to wait for.' }),
      match: anyValue('Take the oldest unconsumed event that matches this pattern (default: the oldest).').optional(),
      ...common(),
    }),
    send: z.strictObject({
      client: clientName,
      hex: z.string().optional().meta({ description: 'Raw frame bytes in hex (spaces allowed).' }),
      frame: anyValue('A value encoded to msgpack as the frame, e.g. [1, 1000, "constructor", []].').optional(),
      text: z.string().optional().meta({ description: 'A text (non-binary) WebSocket message.' }),
      repeat: z.number().int().min(1).max(10_000).optional().meta({ description: 'Send it this many times (default 1).' }),
      ...common(),
    }),
    expect: z.union([expectStepForms.equals, expectStepForms.match, expectStepForms.nothing]),
    let: z.record(variableName, z.unknown()).meta({ description: 'Saves values under names: {first: "${videos[0]}"}.' }),
  };
}

const anyExpect = z.custom<unknown>(() => true);
/** The actions a step can take, with the placeholder `expect` used while validating. */
export const actions = actionSchemas(anyExpect);
/** `connect` in its long form (`{client, expect, save, timeout}`). */
export const connectLong = connectObject(anyExpect);
export type ActionName = keyof typeof actions;
export const actionNames = Object.keys(actions) as ActionName[];

export const clientSchema = z
  .strictObject({
    login: z.string().min(1).optional().meta({ description: 'Get a token from the server\'s development login for this user.' }),
    as: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'With `login`: log in under this user id of the script\'s own, with the `login` user\'s roles ("guest-${run.id}"), so real users\' sessions are never touched.' }),
    token: z.string().min(1).optional().meta({ description: 'A session JWT ("${env.NAME}" reads one from the environment).' }),
    url: z.string().optional().meta({ description: 'This client\'s server, when it is not the script\'s.' }),
  })
  .meta({ description: 'A client: a token, a development login, or neither (anonymous).' });

export const scriptHeader = {
  $schema: z.string().optional(),
  name: z.string().optional().meta({ description: 'The scenario\'s name, shown in reports (default: the file name).' }),
  description: z.string().optional(),
  url: z.string().optional().meta({ description: 'The server (ws:// or http://); --url and CAPSYNC_URL override it.' }),
  timeout: ms.optional().meta({ description: 'Default wait for connections, calls and events, in ms (default 5000).' }),
  continueOnFailure: z.boolean().optional().meta({ description: 'Run the remaining steps after a failed one (default false: skip them).' }),
  import: z.array(z.string()).optional().meta({ description: 'Modules registering portable classes, relative to the script.' }),
  clients: z.record(clientName, clientSchema).meta({ description: 'The named clients the steps drive.' }),
};

/** The whole script, for the JSON Schema. */
export function scriptJsonSchema(): unknown {
  const full = actionSchemas(expectationsSchema);
  const stepSchemas = Object.entries(full).map(([name, schema]) =>
    z.strictObject({ name: z.string().optional().meta({ description: 'A label for the report.' }), [name]: schema }),
  );
  const document = z
    .strictObject({
      ...scriptHeader,
      steps: z.array(z.union(stepSchemas as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]])).min(1).meta({ description: 'Run in order.' }),
    })
    .meta({ title: 'capsync test script', description: 'A scripted protocol test for `capsync test`. See docs/scripts.md.' });
  const schema = z.toJSONSchema(document, { unrepresentable: 'any', reused: 'ref' }) as { $defs?: Record<string, Record<string, unknown>> };
  // zod copies each `id` into its definition; in draft 2020-12 that is not a keyword, and the $defs key says it already.
  for (const def of Object.values(schema.$defs ?? {})) delete def['id'];
  return schema;
}
