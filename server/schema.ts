/**
 * The argument schemas server functions accept: any [Standard Schema](https://standardschema.dev) (zod 3.25
 * and 4, valibot, arktype, ...). The interface is copied structurally, as the Standard Schema spec intends,
 * so capsync's public types name no schema library: a project with another zod version than capsync's own
 * compiles with `skipLibCheck` off, and TypeScript compares only the `~standard` property, never zod's deep
 * generic types (which is what failed with TS2589 when capsync's types said `ZodType`).
 */

/** One problem a schema found: a message and where (the argument index first, then the field path). */
export interface SchemaIssue {
  /** What was expected, e.g. "Invalid input: expected string, received number". */
  readonly message: string;
  /** The argument index, then keys into it; a segment may be a key or `{ key }`, as the spec allows. */
  readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
}

/** One segment of an issue's path, in its object form. */
export interface PathSegment {
  /** The key (an argument index, a property name). */
  readonly key: PropertyKey;
}

/** The outcome of one validation: the (possibly transformed) value, or the issues. */
export type SchemaResult<Output> = SchemaSuccess<Output> | SchemaFailure;

/** A validation that passed. */
export interface SchemaSuccess<Output> {
  /** The validated value: what the server function receives. */
  readonly value: Output;
  /** Absent on success. */
  readonly issues?: undefined;
}

/** A validation that failed. */
export interface SchemaFailure {
  /** What was wrong; the first names the argument in `ERR_BAD_ARGUMENTS`. */
  readonly issues: ReadonlyArray<SchemaIssue>;
}

/** A schema's types: what goes in (clients send it) and what comes out (the handler receives it). */
export interface SchemaTypes<Input, Output> {
  /** What clients send. */
  readonly input: Input;
  /** What the server function receives. */
  readonly output: Output;
}

/**
 * A schema for a server function's argument list, e.g. `z.tuple([z.instanceof(Capability), z.string().max(5000)])`.
 * Its input type is what clients send (typed calls check it), its output what the function receives.
 */
export interface ArgumentsSchema<Input = unknown, Output extends readonly unknown[] = readonly unknown[]> {
  /** The Standard Schema v1 interface. */
  readonly '~standard': {
    /** The Standard Schema version. */
    readonly version: 1;
    /** The schema library (`zod`, `valibot`, ...). */
    readonly vendor: string;
    /** Validates the argument list: the (possibly transformed) value, or the issues. */
    readonly validate: (value: unknown) => SchemaResult<Output> | Promise<SchemaResult<Output>>;
    /** Types only: the input (what clients send) and output (what the handler receives). */
    readonly types?: SchemaTypes<Input, Output> | undefined;
  };
}

/** What a client sends for a schema (its input type). */
export type SchemaInput<S extends ArgumentsSchema> = NonNullable<S['~standard']['types']>['input'];

/** What the server function receives for a schema (its output type). */
export type SchemaOutput<S extends ArgumentsSchema> = NonNullable<S['~standard']['types']>['output'];
