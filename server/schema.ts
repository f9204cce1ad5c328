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
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The outcome of one validation: the (possibly transformed) value, or the issues. */
export type SchemaResult<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: ReadonlyArray<SchemaIssue> };

/**
 * A schema for a server function's argument list, e.g. `z.tuple([z.instanceof(Capability), z.string().max(5000)])`.
 * Its input type is what clients send (typed calls check it), its output what the function receives.
 */
export interface ArgumentsSchema<Input = unknown, Output extends readonly unknown[] = readonly unknown[]> {
  /** The Standard Schema v1 interface. */
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => SchemaResult<Output> | Promise<SchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What a client sends for a schema (its input type). */
export type SchemaInput<S extends ArgumentsSchema> = NonNullable<S['~standard']['types']>['input'];

/** What the server function receives for a schema (its output type). */
export type SchemaOutput<S extends ArgumentsSchema> = NonNullable<S['~standard']['types']>['output'];
