/** The systems compared, in the order every round runs them. The floor comes first: every ratio is against it. */
export const systems = [
  { id: 'floor', label: 'raw ws + msgpackr' },
  { id: 'capsync', label: 'capsync' },
  // The same server and client with ConnectOptions.keyedCalls false: what keyed calls cost (calls only).
  { id: 'capsync-unkeyed', label: 'capsync, no call keys' },
  // The same two from another build (`--baseline DIR`): before and after a change, measured in one run.
  { id: 'capsync-baseline', label: 'capsync, baseline' },
  { id: 'capsync-unkeyed-baseline', label: 'capsync, baseline, no keys' },
  { id: 'socketio', label: 'Socket.IO 4' },
  { id: 'capnweb', label: "Cap'n Web" },
] as const;

export type SystemId = (typeof systems)[number]['id'];

/** Systems that only run the calls benchmark (their fan-out is capsync's). */
export const callsOnly: ReadonlySet<SystemId> = new Set(['capsync-unkeyed', 'capsync-baseline', 'capsync-unkeyed-baseline']);

/** The label of a system id. */
export function labelOf(id: SystemId): string {
  return systems.find((s) => s.id === id)!.label;
}

/** True if `id` names a system. */
export function isSystemId(id: string): id is SystemId {
  return systems.some((s) => s.id === id);
}
