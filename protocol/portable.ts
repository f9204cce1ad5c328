import { Capability } from './capability/capability.js';
import { fail } from './errors.js';
import { dispatchPortableClass } from './extensions.js';
import type { JsonValue } from './json-value.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
/** A class that can be registered as portable: any constructor, abstract ones included. */
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

/**
 * The portable classes one {@link Codec} knows: what it may encode as extension type 2 and what names it
 * revives. A codec with its own registry neither sends nor builds the classes of another registry, so two
 * apps (or two tests) in one process cannot see each other's classes. Codecs given none use
 * {@link defaultPortables}, which {@link registerPortable} fills.
 *
 * @example
 * ```ts
 * const portables = new PortableRegistry();
 * portables.register(Video, { name: 'Video', address: (v) => ['youtube_videos', v.id] });
 * const codec = new Codec(undefined, { portables });
 * ```
 */
export class PortableRegistry {
  readonly #byName = new Map<string, PortableType>();
  readonly #byClass = new Map<PortableClass, PortableType>();

  /**
   * Registers a class under a name. Registering the same class under the same name again is a no-op;
   * another class under a taken name is `ERR_PORTABLE_INVALID`. `Capability` (or a subclass) can never be
   * portable: an instance revived from wire fields would be a capability nobody signed or checked.
   */
  register<T extends object>(cls: PortableClass<T>, options: PortableOptions<T>): void {
    if (typeof options.name !== 'string' || options.name.length === 0) throw fail('ERR_PORTABLE_INVALID', 'portable name must be a non-empty string');
    if (typeof cls !== 'function' || cls === (Capability as PortableClass) || cls.prototype instanceof Capability) {
      throw fail('ERR_PORTABLE_INVALID', 'a capability class cannot be portable');
    }
    const existing = this.#byName.get(options.name);
    if (existing !== undefined) {
      if (existing.cls === cls) return;
      throw fail('ERR_PORTABLE_INVALID', `portable name ${options.name} is already registered`);
    }
    const type = { ...options, cls } as PortableType;
    this.#byName.set(options.name, type);
    this.#byClass.set(cls, type);
    dispatchPortableClass(cls);
  }

  /** The registration of a class name, or undefined. */
  byName(name: string): PortableType | undefined {
    return this.#byName.get(name);
  }

  /** The registration of a class, or undefined. */
  ofClass(cls: PortableClass): PortableType | undefined {
    return this.#byClass.get(cls);
  }

  /** The registration of an instance's own class (not a subclass's), or undefined. */
  of(object: object): PortableType | undefined {
    return this.#byClass.get(object.constructor as PortableClass);
  }

  /**
   * @internal Rebuilds an instance from wire fields without running its constructor (which may mint
   * capabilities and so only runs in server code). A field may not shadow anything on the class's prototype
   * chain: wire data never replaces a method or `constructor`.
   */
  revive(name: unknown, fields: unknown): object {
    if (typeof name !== 'string') throw fail('ERR_PORTABLE_INVALID');
    const type = this.#byName.get(name);
    if (type === undefined) throw unknownClass(name);
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) throw fail('ERR_PORTABLE_INVALID');
    const proto = type.cls.prototype as object;
    const object = Object.create(proto) as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (key in proto) throw fail('ERR_PORTABLE_INVALID', `field ${JSON.stringify(key).slice(0, 64)} shadows the class`);
      Object.defineProperty(object, key, { value: (fields as Record<string, unknown>)[key], writable: true, enumerable: true, configurable: true });
    }
    return object;
  }
}

/**
 * `ERR_PORTABLE_UNKNOWN` for a class name from the wire, naming it (cut to 64 characters) and the likely
 * cause. In TypeScript, `import type { Video }` (or an import only used as a type, which the compiler elides)
 * never runs the module that calls `registerPortable`: the class is then unknown on that side only.
 */
function unknownClass(name: string): Error {
  const shown = JSON.stringify(name).slice(0, 64);
  return fail(
    'ERR_PORTABLE_UNKNOWN',
    `portable class ${shown} is not registered on this side: register it with registerPortable here too ` +
      '(in TypeScript, import the module that registers it as a value: `import type` drops the registration)',
  );
}

/** The registry {@link registerPortable} fills and codecs use when given none. */
export const defaultPortables = new PortableRegistry();

/**
 * Registers a class as portable in {@link defaultPortables}: its instances cross the wire with their own
 * fields (capabilities included) and arrive as instances of the same class on the other side, whose methods
 * then work there. Both sides must register the class under the same name, usually by importing one shared module.
 *
 * @example
 * ```ts
 * registerPortable(Video, { name: 'Video', address: (v) => ['youtube_videos', v.id] });
 * ```
 */
export function registerPortable<T extends object>(cls: PortableClass<T>, options: PortableOptions<T>): void {
  defaultPortables.register(cls, options);
}

/** The registration of a class name in `registry` (default {@link defaultPortables}), or undefined. */
export function portableByName(name: string, registry: PortableRegistry = defaultPortables): PortableType | undefined {
  return registry.byName(name);
}

/** The registration of a class in `registry`, or undefined. */
export function portableOfClass(cls: PortableClass, registry: PortableRegistry = defaultPortables): PortableType | undefined {
  return registry.ofClass(cls);
}

/** The registration of an instance's class in `registry`, or undefined. */
export function portableOf(object: object, registry: PortableRegistry = defaultPortables): PortableType | undefined {
  return registry.of(object);
}

/** The live address of a portable instance, or undefined if its class declares none (or is not in `registry`). */
export function addressOf(object: object, registry: PortableRegistry = defaultPortables): JsonValue[] | undefined {
  const type = registry.of(object);
  return type?.address?.(object);
}

/** @internal The fields that cross the wire: own enumerable properties. */
export function fieldsOf(object: object): Record<string, unknown> {
  return { ...object };
}

/** @internal Rebuilds an instance of the class `name` names in `registry` (see {@link PortableRegistry.revive}). */
export function revive(name: unknown, fields: unknown, registry: PortableRegistry = defaultPortables): object {
  return registry.revive(name, fields);
}
