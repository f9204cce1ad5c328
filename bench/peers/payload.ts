/**
 * The work every system does: the same call argument and the same update, as plain data. Each system
 * encodes them its own way (msgpack for the floor and capsync, JSON text for Socket.IO and Cap'n Web).
 */

/** The argument of every call; the server returns it unchanged. About 110 bytes as JSON. */
export const callPayload = Object.freeze({
  op: 'echo',
  text: 'The quick brown fox jumps over the lazy dog',
  n: 42,
  values: Object.freeze([1, 2, 3, 5, 8, 13]),
  ok: true,
});

export type CallPayload = typeof callPayload;

/** The fields of the one object the fan-out updates; `seq` tells the clients which update arrived. */
export interface UpdateFields {
  id: string;
  seq: number;
  title: string;
  text: string;
}

/** The update number `seq`: the same fields on every system. */
export function updateFields(seq: number): UpdateFields {
  return { id: 'item', seq, title: 'Benchmark item', text: 'The quick brown fox jumps over the lazy dog' };
}
