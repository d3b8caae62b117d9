import type { z } from 'zod';

/** True only when A and B are the same type (same keys, same optionality, same value types). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/**
 * `schemaOf<T>()(schema)` returns the schema unchanged, and does not compile unless the schema's
 * output is exactly T. The types stay hand-written (with their comments) where the code uses them;
 * this keeps the schema that reads them back from Redis from drifting: a field added to a type but
 * not to its schema would otherwise be dropped silently on every read.
 */
export function schemaOf<T>() {
  return <S extends z.ZodType>(schema: S & (Same<z.output<S>, T> extends true ? unknown : { schemaDiffersFromType: [z.output<S>, T] })): S => schema;
}
