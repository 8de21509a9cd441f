/**
 * Wraps a plain JSON Schema (from a plug-in tool) as a zod schema. The schema is sent to the model
 * verbatim; validation is deliberately small: the arguments must be a JSON object, `required`
 * properties must be present, and top-level properties with a primitive `type` (string, number,
 * integer, boolean, array, object, null) must have it. Anything deeper is the tool's business.
 */
import { z } from 'zod';

type Schema = Record<string, unknown>;

function typeMatches(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return true;
  }
}

/** True for a plain object that looks like a JSON Schema of an object (or has no `type`). */
export function isJsonObjectSchema(value: unknown): value is Schema {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const type = (value as Schema).type;
  return type === undefined || type === 'object';
}

/** The zod schema validating arguments against `schema` as described in the module comment. */
export function zodFromJsonSchema(schema: Schema): z.ZodType<Record<string, unknown>> {
  const properties = (
    typeof schema.properties === 'object' && schema.properties !== null ? schema.properties : {}
  ) as Record<string, unknown>;
  const required = Array.isArray(schema.required)
    ? schema.required.filter((r): r is string => typeof r === 'string')
    : [];
  return z.record(z.string(), z.unknown()).superRefine((args, ctx) => {
    for (const name of required) {
      if (!Object.hasOwn(args, name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is required' });
    }
    for (const [name, value] of Object.entries(args)) {
      if (!Object.hasOwn(properties, name)) continue;
      const prop = properties[name];
      const type = typeof prop === 'object' && prop !== null ? (prop as Schema).type : undefined;
      const types = Array.isArray(type) ? type : typeof type === 'string' ? [type] : [];
      if (types.length > 0 && !types.some((t) => typeof t === 'string' && typeMatches(value, t))) {
        ctx.addIssue({ code: 'custom', path: [name], message: `expected ${types.join(' or ')}` });
      }
    }
  });
}
