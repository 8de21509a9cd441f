/**
 * The `dataset` setting (`--dataset <count|file>`): a positive integer, or a file whose examples
 * are counted: non-empty lines of a `.jsonl` or `.txt` file (streamed, any size), or the length of
 * the top-level array of a `.json` file (read whole, so capped). The file must be a regular file:
 * it is opened without blocking, so a FIFO or a device is refused instead of read.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { assertNever, InvalidInputError } from '../core/errors.ts';
import { readCappedFile } from '../core/files.ts';

export interface DatasetFact {
  /** The argument as given. */
  source: string;
  kind: 'count' | 'lines' | 'json-array';
  /** Absolute path when the dataset is a file. */
  file: string | null;
  count: number;
}

/** Largest `.json` dataset read whole (V8 strings stop near 512 MiB anyway). */
export const MAX_JSON_DATASET_BYTES = 256 * 2 ** 20;

/** Reads the dataset argument; zero, negative, non-integer counts and unreadable files exit 2. */
export async function readDataset(arg: string, cwd: string): Promise<DatasetFact> {
  const text = arg.trim();
  if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new InvalidInputError(
        'dataset',
        arg,
        n >= 1 && Number.isInteger(n)
          ? `a positive integer number of examples of at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1) (or a dataset file)`
          : 'a positive integer number of examples (or a dataset file)',
      );
    }
    return { source: arg, kind: 'count', file: null, count: n };
  }
  const file = resolve(cwd, arg);
  const ext = extname(file).toLowerCase();
  if (!['.jsonl', '.txt', '.json'].includes(ext)) {
    throw new InvalidInputError('dataset', arg, 'a positive integer, or a .jsonl, .txt or .json file');
  }
  const count = ext === '.json' ? await countJsonArray(file, arg) : await countLines(file, arg);
  if (count < 1)
    throw new InvalidInputError('dataset', arg, 'a dataset with at least one example (file is empty)');
  return { source: arg, kind: ext === '.json' ? 'json-array' : 'lines', file, count };
}

async function countJsonArray(file: string, arg: string): Promise<number> {
  const read = await readCappedFile(file, { maxBytes: MAX_JSON_DATASET_BYTES });
  switch (read.kind) {
    case 'ok':
      break;
    case 'missing':
      throw new InvalidInputError('dataset', arg, 'a readable file (ENOENT)');
    case 'symlink':
    case 'unreadable':
      throw new InvalidInputError('dataset', arg, 'a readable file');
    case 'not-regular':
      throw new InvalidInputError('dataset', arg, `a regular file (this is a ${read.type})`);
    case 'too-large':
      throw new InvalidInputError(
        'dataset',
        arg,
        `a .json file of at most ${read.maxBytes} bytes (use .jsonl)`,
      );
    default:
      return assertNever(read);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(read.text);
  } catch {
    throw new InvalidInputError('dataset', arg, 'a .json file holding a JSON array');
  }
  if (!Array.isArray(raw))
    throw new InvalidInputError('dataset', arg, 'a .json file whose top level is an array');
  return raw.length;
}

/** Non-empty lines (whitespace-only lines do not count), streamed in blocks. */
async function countLines(file: string, arg: string): Promise<number> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new InvalidInputError(
      'dataset',
      arg,
      `a readable file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    if (!(await handle.stat()).isFile()) throw new InvalidInputError('dataset', arg, 'a regular file');
    const buf = Buffer.alloc(1 << 20);
    let count = 0;
    let blank = true;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      for (let i = 0; i < bytesRead; i++) {
        const b = buf[i]!;
        if (b === 0x0a) {
          if (!blank) count++;
          blank = true;
        } else if (blank && b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0b && b !== 0x0c) {
          blank = false;
        }
      }
    }
    return blank ? count : count + 1;
  } finally {
    await handle.close();
  }
}
