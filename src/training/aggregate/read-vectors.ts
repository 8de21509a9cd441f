/**
 * Reads a vectors file for {@link aggregate}: a JSON array of at least one array of numbers, all of
 * one non-zero length. The file must be a regular file of bounded size (a FIFO or a device is
 * refused, not read). Every error names the file, the vector index and the problem. A JSON number
 * outside the float64 range (1e400) parses as +-Infinity: refused by position when `strict`, kept
 * otherwise so that aggregation counts its vector as Byzantine.
 */
import { resolve } from 'node:path';
import { assertNever, CORE_ERRORS, describeValue, MarshalError } from '../../core/errors.ts';
import { readCappedFile } from '../../core/files.ts';

/** Largest vectors file read (JSON text). */
export const MAX_VECTORS_BYTES = 256 * 2 ** 20;

export interface ReadVectorsOptions {
  /** Refuse numbers outside the float64 range instead of keeping them as +-Infinity. */
  strict?: boolean | undefined;
}

/** Reads `file` (relative to `cwd`) into one Float64Array per worker. */
export async function readVectorsFile(
  file: string,
  options: { cwd: string } & ReadVectorsOptions,
): Promise<Float64Array[]> {
  const read = await readCappedFile(resolve(options.cwd, file), { maxBytes: MAX_VECTORS_BYTES });
  switch (read.kind) {
    case 'ok':
      break;
    case 'missing':
      throw invalid(file, 'no such file');
    case 'symlink':
      throw invalid(file, 'cannot read it (a symlink)');
    case 'not-regular':
      throw invalid(file, `cannot read it (not a regular file: ${read.type})`);
    case 'too-large':
      throw invalid(file, `cannot read it (${read.size} bytes, more than ${read.maxBytes})`);
    case 'unreadable':
      throw invalid(file, `cannot read it (${read.message})`);
    default:
      return assertNever(read);
  }
  return parseVectors(read.text, file, options);
}

/** Parses vectors JSON text (from a file or stdin, named `source` in errors); see {@link readVectorsFile}. */
export function parseVectors(text: string, source: string, options: ReadVectorsOptions = {}): Float64Array[] {
  const file = source;
  if (text.length > MAX_VECTORS_BYTES) throw invalid(file, `more than ${MAX_VECTORS_BYTES} bytes of JSON`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw invalid(file, `not valid JSON (${(err as Error).message})`, err);
  }
  if (!Array.isArray(data) || data.length === 0) {
    throw invalid(file, `expected a non-empty JSON array of number arrays, got ${describeValue(data)}`);
  }
  const d = Array.isArray(data[0]) ? data[0].length : 0;
  return data.map((row: unknown, i) => {
    if (!Array.isArray(row))
      throw invalid(file, `vector ${i} is not an array of numbers: ${describeValue(row)}`);
    if (row.length === 0) throw invalid(file, `vector ${i} is empty`);
    if (row.length !== d)
      throw invalid(file, `vector ${i} has length ${row.length}, vector 0 has length ${d}`);
    const out = new Float64Array(d);
    row.forEach((x: unknown, k) => {
      if (typeof x !== 'number') {
        throw invalid(file, `vector ${i}, coordinate ${k}: expected a number, got ${describeValue(x)}`);
      }
      if (!Number.isFinite(x) && options.strict === true) {
        throw invalid(
          file,
          `vector ${i}, coordinate ${k}: the number is outside the float64 range (parsed as ${String(x)})`,
        );
      }
      out[k] = x;
    });
    return out;
  });
}

function invalid(file: string, problem: string, cause?: unknown): MarshalError {
  return new MarshalError(CORE_ERRORS.E_INVALID_INPUT, `${file}: ${problem}`, {
    details: { field: 'vectors', path: file },
    ...(cause === undefined ? {} : { cause }),
  });
}
