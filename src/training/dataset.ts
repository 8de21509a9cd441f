/**
 * `--dataset <count|file>`: a positive integer, or a file whose examples are counted: non-empty
 * lines of a `.jsonl` or `.txt` file, or the length of the top-level array of a `.json` file.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';

export interface DatasetFact {
  /** The argument as given. */
  source: string;
  kind: 'count' | 'lines' | 'json-array';
  /** Absolute path when the dataset is a file. */
  file: string | null;
  count: number;
}

/** Reads the dataset argument; zero, negative, non-integer counts and unreadable files exit 2. */
export async function readDataset(arg: string, cwd: string): Promise<DatasetFact> {
  const text = arg.trim();
  if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new InvalidInputError(
        '--dataset',
        arg,
        'a positive integer number of examples (or a dataset file)',
      );
    }
    return { source: arg, kind: 'count', file: null, count: n };
  }
  const file = resolve(cwd, arg);
  const ext = extname(file).toLowerCase();
  if (!['.jsonl', '.txt', '.json'].includes(ext)) {
    throw new InvalidInputError('--dataset', arg, 'a positive integer, or a .jsonl, .txt or .json file');
  }
  let body: string;
  try {
    body = await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(
      '--dataset',
      arg,
      `a readable file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let count: number;
  let kind: DatasetFact['kind'];
  if (ext === '.json') {
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch {
      throw new InvalidInputError('--dataset', arg, 'a .json file holding a JSON array');
    }
    if (!Array.isArray(raw))
      throw new InvalidInputError('--dataset', arg, 'a .json file whose top level is an array');
    count = raw.length;
    kind = 'json-array';
  } else {
    count = body.split('\n').filter((l) => l.trim() !== '').length;
    kind = 'lines';
  }
  if (count < 1)
    throw new InvalidInputError('--dataset', arg, 'a dataset with at least one example (file is empty)');
  return { source: arg, kind, file, count };
}
