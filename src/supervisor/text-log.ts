/**
 * A plain-text log that rotates by size, like the switch log (`path` -> `path.1` -> ... ->
 * `path.<maxFiles-1>`, the oldest dropped): what a detached supervisor writes to
 * `.metadata/orchestrator.log` instead of an ever-growing stderr. Opened without following a
 * symlink (`.metadata/` is shared with other programs); lines are written whole, synchronously,
 * so nothing is lost when the process ends.
 */
import { closeSync, constants, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** Same bounds as the switch log's (core jsonl-logger defaults). */
export const TEXT_LOG_DEFAULTS = { maxBytes: 10 * 1024 * 1024, maxFiles: 5 } as const;

/** An open rotating text log. */
export interface TextLog {
  readonly path: string;
  /** Appends `text` and a newline; rotates first when the line would pass `maxBytes`. */
  line(text: string): void;
  close(): void;
}

function shift(path: string, keep: number): void {
  rmSync(`${path}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    } catch {
      // that generation does not exist yet
    }
  }
  if (keep >= 1) renameSync(path, `${path}.1`);
  else rmSync(path, { force: true });
}

/** Opens (appends to) the rotating text log at `path`. */
export function openTextLog(path: string, options: { maxBytes?: number; maxFiles?: number } = {}): TextLog {
  const maxBytes = options.maxBytes ?? TEXT_LOG_DEFAULTS.maxBytes;
  const maxFiles = options.maxFiles ?? TEXT_LOG_DEFAULTS.maxFiles;
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;
  let fd: number | undefined;
  let size = 0;
  const open = () => {
    fd = openSync(path, flags, 0o600);
    size = fstatSync(fd).size;
  };
  open();
  return {
    path,
    line(text) {
      if (fd === undefined) return;
      const data = Buffer.from(`${text}\n`, 'utf8');
      if (size > 0 && size + data.length > maxBytes) {
        closeSync(fd);
        fd = undefined;
        try {
          shift(path, maxFiles - 1);
        } finally {
          open();
        }
      }
      let offset = 0;
      while (offset < data.length) offset += writeSync(fd as number, data, offset);
      size += data.length;
    },
    close() {
      if (fd === undefined) return;
      closeSync(fd);
      fd = undefined;
    },
  };
}
