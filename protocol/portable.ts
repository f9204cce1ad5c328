import { fail } from './errors.js';
import type { JsonValue } from './json-value.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PortableClass<T extends object = object> = abstract new (...args: any[]) => T;

/** How a class crosses the wire. */
export interface PortableOptions<T extends object> {
  /** The name both sides register the class under. */
  readonly name: string;
  /**
   * For live objects: the address (a scope) of an instance. A capability covers the object when one is a
   * prefix of the other; pushes for the object go to every connection holding a covering capability.
   */
  readonly address?: (object: T) => JsonValue[];
}

/** A registered portable class. */
export interface PortableType<T extends object = object> extends PortableOptions<T> {
  readonly cls: PortableClass<T>;
}

const byName = new Map<string, PortableType>();
const byClass = new Map<PortableClass, PortableType>();
const listeners = new Set<(type: PortableType) => void>();

/**
 * Registers a class as portable: its instances cross the wire with their own fields (capabilities
 * included) and arrive as instances of the same class on the other side, whose methods then work there.
 * Both sides must register the class under the same name, usually by importing one shared module.
 *
 * @example
 * ```ts
 * registerPortable(Video, { name: 'Video', address: (v) => ['youtube_videos', v.id] });
 * ```
 */
export function registerPortable<T extends object>(cls: PortableClass<T>, options: PortableOptions<T>): void {
  if (typeof options.name !== 'string' || options.name.length === 0) throw fail('ERR_PORTABLE_INVALID', 'portable name must be a non-empty string');
  const existing = byName.get(options.name);
  if (existing !== undefined) {
    if (existing.cls === cls) return;
    throw fail('ERR_PORTABLE_INVALID', `portable name ${options.name} is already registered`);
  }
  const type = { ...options, cls } as PortableType;
  byName.set(options.name, type);
  byClass.set(cls, type);
  for (const listener of listeners) listener(type);
}

/** The registration of a class name, or undefined. */
export function portableByName(name: string): PortableType | undefined {
  return byName.get(name);
}

/** The registration of a class, or undefined. */
export function portableOfClass(cls: PortableClass): PortableType | undefined {
  return byClass.get(cls);
}

/** The registration of an instance's class, or undefined. */
export function portableOf(object: object): PortableType | undefined {
  return byClass.get(object.constructor as PortableClass);
}

/** @internal The codec hears of every class, registered before or after it loaded. */
export function onPortableRegistered(listener: (type: PortableType) => void): void {
  for (const type of byName.values()) listener(type);
  listeners.add(listener);
}

/** The live address of a portable instance, or undefined if its class declares none. */
export function addressOf(object: object): JsonValue[] | undefined {
  const type = portableOf(object);
  return type?.address?.(object);
}

/** @internal The fields that cross the wire: own enumerable properties. */
export function fieldsOf(object: object): Record<string, unknown> {
  return { ...object };
}

/**
 * @internal Rebuilds an instance from wire fields without running its constructor (which may mint
 * capabilities and so only runs in server code). A field may not shadow anything on the class's prototype
 * chain: wire data never replaces a method or `constructor`.
 */
export function revive(name: unknown, fields: unknown): object {
  if (typeof name !== 'string') throw fail('ERR_PORTABLE_INVALID');
  const type = byName.get(name);
  if (type === undefined) throw fail('ERR_PORTABLE_UNKNOWN', `portable class ${JSON.stringify(name).slice(0, 64)} is not registered`);
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) throw fail('ERR_PORTABLE_INVALID');
  const proto = type.cls.prototype as object;
  const object = Object.create(proto) as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key in proto) throw fail('ERR_PORTABLE_INVALID', `field ${JSON.stringify(key).slice(0, 64)} shadows the class`);
    Object.defineProperty(object, key, { value: (fields as Record<string, unknown>)[key], writable: true, enumerable: true, configurable: true });
  }
  return object;
}
