/** The systems compared, in the order every round runs them. The floor comes first: every ratio is against it. */
export const systems = [
  { id: 'floor', label: 'raw ws + msgpackr' },
  { id: 'capsync', label: 'capsync' },
  { id: 'socketio', label: 'Socket.IO 4' },
  { id: 'capnweb', label: "Cap'n Web" },
] as const;

export type SystemId = (typeof systems)[number]['id'];

/** The label of a system id. */
export function labelOf(id: SystemId): string {
  return systems.find((s) => s.id === id)!.label;
}

/** True if `id` names a system. */
export function isSystemId(id: string): id is SystemId {
  return systems.some((s) => s.id === id);
}
