/**
 * Structured JSONL logger for traces and audit logs: one JSON object per line, every string
 * neutralised (CWE-117) and secrets redacted, size-based rotation.
 *
 * Appends are synchronous writes to an O_APPEND descriptor, one write per line: a line is in the
 * kernel before `log()` returns (so a crash of this process cannot lose it), and lines from
 * concurrent writers never interleave. Rotation assumes one writing process per file.
 */

import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { CORE_ERRORS, InvalidInputError, MarshalError } from './errors.ts';
import { scrubValue } from './log-hygiene.ts';

export interface JsonlLoggerOptions {
  /** Rotate before a line would grow the file past this size; default 10 MiB. */
  maxBytes?: number;
  /** Files kept, the live one included (`path`, `path.1` ... `path.<maxFiles-1>`); default 5. */
  maxFiles?: number;
  /** Exact secret values to redact wherever they appear (e.g. the API key in use). */
  known?: readonly string[];
  /** fsync after every line (survives power loss, not only a crash); default false. */
  fsync?: boolean;
  /** File mode for new log files; default 0o600 (logs may hold private prompts and paths). */
  mode?: number;
  /** Clock, for tests; default `() => new Date()`. */
  now?: () => Date;
  /**
   * Refuse to append through a symlink at `path` (O_NOFOLLOW), for logs in a folder other
   * programs write to; default false.
   */
  noFollow?: boolean;
}

export interface JsonlLogger {
  readonly path: string;
  /** Appends `{ts, ...record}` as one line (the logger's `ts` wins over a `ts` in the record). */
  log(record: Record<string, unknown>): void;
  /** Closes the file; later `log` calls throw. Idempotent. */
  close(): void;
}

function positiveInt(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidInputError(field, value, 'expected an integer >= 1');
  return value;
}

/** Shifts `path` -> `path.1` -> ... -> `path.<keep>`, dropping the oldest. */
function rotate(path: string, keep: number): void {
  rmSync(`${path}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (keep >= 1) renameSync(path, `${path}.1`);
  else rmSync(path, { force: true });
}

/**
 * Opens (creating parent directories) a JSONL log at `path`.
 *
 * @example
 * const audit = createJsonlLogger(join(dir, 'audit.jsonl'), { maxBytes: 1 << 20, maxFiles: 3 });
 * audit.log({ event: 'switch', from: 'a', to: 'b' });
 */
export function createJsonlLogger(path: string, options: JsonlLoggerOptions = {}): JsonlLogger {
  const maxBytes = positiveInt('maxBytes', options.maxBytes ?? 10 * 1024 * 1024);
  const maxFiles = positiveInt('maxFiles', options.maxFiles ?? 5);
  const { known = [], fsync = false, mode = 0o600, now = () => new Date() } = options;
  mkdirSync(dirname(path), { recursive: true });

  let fd: number | undefined;
  let size = 0;
  const open = (): number => {
    const flags =
      options.noFollow === true
        ? constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW
        : 'a';
    const opened = openSync(path, flags, mode);
    size = fstatSync(opened).size;
    fd = opened;
    return opened;
  };
  open();

  const write = (target: number, data: Buffer): void => {
    let offset = 0;
    while (offset < data.length) offset += writeSync(target, data, offset);
    if (fsync) fsyncSync(target);
  };

  return {
    path,
    log(record) {
      if (fd === undefined) throw new MarshalError(CORE_ERRORS.E_RUNTIME, `log ${path} is closed`);
      const { ts: _ignored, ...rest } = record;
      const scrubbed = scrubValue(rest, known) as Record<string, unknown>;
      const line = Buffer.from(`${JSON.stringify({ ts: now().toISOString(), ...scrubbed })}\n`, 'utf8');
      if (size > 0 && size + line.length > maxBytes) {
        closeSync(fd);
        fd = undefined;
        try {
          rotate(path, maxFiles - 1);
        } finally {
          open(); // even after a failed rotation, keep logging to the live file
        }
      }
      write(fd!, line);
      size += line.length;
    },
    close() {
      if (fd === undefined) return;
      const closing = fd;
      fd = undefined;
      closeSync(closing);
    },
  };
}
