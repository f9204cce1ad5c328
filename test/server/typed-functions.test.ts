import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Capability, CapsyncServer, MemoryStore, serverFunction, type ArgumentsSchema } from '../../server/index.js';
import { connectInMemory, type MemoryConnection } from '../../testing/index.js';
import { SECRET } from '../helpers.js';

let server: CapsyncServer | undefined;
let memory: MemoryConnection | undefined;
afterEach(async () => {
  await memory?.client.close();
  await server?.close();
  server = memory = undefined;
});

/** A Standard Schema written by hand (no zod): a list of exactly one even number; asynchronous on purpose. */
const evenNumber: ArgumentsSchema<[number], [number]> = {
  '~standard': {
    version: 1,
    vendor: 'hand-written',
    validate: async (value) =>
      Array.isArray(value) && value.length === 1 && typeof value[0] === 'number' && value[0] % 2 === 0
        ? { value: [value[0]] as [number] }
        : { issues: [{ message: 'expected one even number', path: [{ key: 0 }] }] },
  },
};

const functions = {
  describe: serverFunction(z.tuple([z.instanceof(Capability), z.string().max(5)]), (_ctx, cap, text) => `${cap.scope.join('/')}:${text}`),
  // A schema that transforms: the handler receives its output, not what was sent.
  shout: serverFunction(z.tuple([z.string().transform((s) => s.toUpperCase())]), (_ctx, text) => text),
  half: serverFunction(evenNumber, (_ctx, n) => n / 2),
  add: serverFunction((_ctx, a: number, b: number) => a + b),
};

async function serve(): Promise<MemoryConnection> {
  server = await CapsyncServer.create({ auth: { secret: SECRET }, store: new MemoryStore() });
  server.callables(functions);
  server.callable('cap', () => new Capability(['notes', 'n1']));
  memory = await connectInMemory(server, { user: { id: 'editor', roles: [] } });
  return memory;
}

const codeOf = (promise: Promise<unknown>) => promise.then(() => 'resolved', (error: { code: string; message: string }) => `${error.code}: ${error.message}`);

describe('server functions declared with serverFunction', () => {
  it('registers each under its key and runs it with the validated (transformed) arguments', async () => {
    const { client: untyped } = await serve();
    const cap = await untyped.call<Capability>('cap');
    const client = untyped.typed<typeof functions>();
    expect(await client.call('describe', cap, 'hi')).toBe('notes/n1:hi');
    expect(await client.call('shout', 'quiet')).toBe('QUIET');
    expect(await client.call('add', 2, 3)).toBe(5);
  });

  it('keeps the schema as the runtime check: an untyped caller sending the wrong thing gets ERR_BAD_ARGUMENTS', async () => {
    const { client } = await serve();
    expect(await codeOf(client.call('describe', 'not a capability', 'hi'))).toMatch(/^ERR_BAD_ARGUMENTS: argument 0: /);
    expect(await codeOf(client.call('describe', await client.call('cap'), 'too long'))).toMatch(/^ERR_BAD_ARGUMENTS: argument 1: /);
  });

  it('accepts any Standard Schema, asynchronous ones included, and names the argument from its issue path', async () => {
    const { client } = await serve();
    expect(await client.call('half', 8)).toBe(4);
    expect(await codeOf(client.call('half', 7))).toBe('ERR_BAD_ARGUMENTS: argument 0: expected one even number');
    expect(await codeOf(client.call('half', 8, 9))).toBe('ERR_BAD_ARGUMENTS: argument 0: expected one even number');
  });
});
