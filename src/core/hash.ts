/**
 * SHA-256 of bytes, files and streams, and canonical JSON (a stable text form whose hash identifies
 * a value regardless of key order).
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { AbortedError, assertNever, CORE_ERRORS, MarshalError } from './errors.ts';

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Hex SHA-256 of a readable stream, consumed to its end. Chunks may be strings (hashed as UTF-8)
 * or bytes. Rejects with the stream's error if it fails.
 */
export async function sha256Stream(readable: Readable | AsyncIterable<string | Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of readable as AsyncIterable<string | Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Hex SHA-256 of a file, streamed (large checkpoints never sit in memory). Aborting `signal`
 * destroys the read stream and rejects with {@link AbortedError}.
 */
export async function sha256File(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  const { signal } = options;
  if (signal?.aborted) throw new AbortedError(`hashing ${path} aborted`, { cause: signal.reason });
  const stream = createReadStream(path, signal ? { signal } : {});
  try {
    return await sha256Stream(stream);
  } catch (err) {
    if (signal?.aborted) throw new AbortedError(`hashing ${path} aborted`, { cause: signal.reason });
    throw err;
  } finally {
    stream.destroy();
  }
}

/**
 * Canonical JSON: object keys sorted (by UTF-16 code unit, recursively), arrays in order, no
 * whitespace. Values are normalised like `JSON.stringify` does (`toJSON` is honoured, `undefined`
 * and functions are dropped from objects and become `null` in arrays), except that non-finite
 * numbers, bigints, symbols and cycles are rejected: silently turning NaN into `null` would make
 * two different values hash alike.
 */
export function canonicalJson(value: unknown): string {
  const out = encode(value, '$', new Set());
  if (out === undefined) {
    throw new MarshalError(
      CORE_ERRORS.E_INVALID_INPUT,
      `canonicalJson: value at $ is not representable (${typeof value})`,
      {
        details: { path: '$' },
      },
    );
  }
  return out;
}

/** Hex SHA-256 of {@link canonicalJson}(value). */
export function sha256CanonicalJson(value: unknown): string {
  return sha256(canonicalJson(value));
}

function reject(path: string, what: string): never {
  throw new MarshalError(
    CORE_ERRORS.E_INVALID_INPUT,
    `canonicalJson: ${what} at ${path} cannot be encoded as JSON`,
    {
      details: { path },
    },
  );
}

/** Returns undefined for values JSON omits (undefined, functions). */
function encode(input: unknown, path: string, seen: Set<object>): string | undefined {
  let value = input;
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    value = (value as { toJSON: (key: string) => unknown }).toJSON('');
  }
  const kind = typeof value;
  switch (kind) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) reject(path, `non-finite number ${String(value)}`);
      return JSON.stringify(value);
    case 'bigint':
      return reject(path, 'bigint');
    case 'symbol':
      return reject(path, 'symbol');
    case 'undefined':
    case 'function':
      return undefined;
    case 'object':
      break; // null, arrays and plain objects: below
    default:
      return assertNever(kind, 'typeof');
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (seen.has(obj)) reject(path, 'circular reference');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item, i) => encode(item, `${path}[${i}]`, seen) ?? 'null').join(',')}]`;
    }
    const parts: string[] = [];
    for (const key of Object.keys(obj).sort()) {
      const encoded = encode((obj as Record<string, unknown>)[key], `${path}.${key}`, seen);
      if (encoded !== undefined) parts.push(`${JSON.stringify(key)}:${encoded}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}
