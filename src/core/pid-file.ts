/**
 * PID files that remember who wrote them: `{pid, processStartTime, host, startedAt, ...extra}`.
 * A reader compares the recorded start time with the live process, so a PID recycled by the OS is
 * reported `stale` instead of being mistaken for the writer. A plain integer file (ComfyGit's
 * `.orchestrator.pid`) is also understood, with liveness as the only check.
 */
import { readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.ts';
import { InvalidInputError } from './errors.ts';
import { moveAside, putBack } from './lock-record.ts';
import { currentIdentity, identityStatus, type ProcessIdentity } from './process-identity.ts';

/** What a PID file records. `extra` keys written by the caller sit alongside. */
export interface PidRecord extends ProcessIdentity {
  /** ISO-8601 time the file was written (for a plain-integer file: its mtime). */
  startedAt: string;
  [key: string]: unknown;
}

export type PidFileState =
  | { status: 'missing' }
  | { status: 'corrupt'; text: string }
  | { status: 'alive'; record: PidRecord }
  | { status: 'stale'; record: PidRecord; reason: 'dead' | 'pid_reused' };

const RESERVED = ['pid', 'processStartTime', 'host', 'startedAt'] as const;

const recordSchema = z.looseObject({
  pid: z.number().int().positive(),
  processStartTime: z.number().int().nonnegative().nullable(),
  host: z.string(),
  startedAt: z.string(),
});

/**
 * Writes the current process's PID file atomically and returns the record. `extra` adds fields
 * (for example a port); it may not override the identity fields.
 */
export async function writePidFile(path: string, extra: Record<string, unknown> = {}): Promise<PidRecord> {
  for (const key of RESERVED) {
    if (key in extra)
      throw new InvalidInputError(
        `extra.${key}`,
        extra[key],
        'no value (identity fields are set by marshal)',
      );
  }
  const record: PidRecord = { ...currentIdentity(), startedAt: new Date().toISOString(), ...extra };
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

async function parseRecord(path: string, text: string): Promise<PidRecord | null> {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const pid = Number(trimmed);
    if (!Number.isSafeInteger(pid) || pid <= 0) return null;
    const { mtime } = await stat(path);
    return { pid, processStartTime: null, host: hostname(), startedAt: mtime.toISOString() };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = recordSchema.safeParse(raw);
  return parsed.success ? (parsed.data as PidRecord) : null;
}

/**
 * Reads a PID file and checks the recorded process: `alive` when it still runs (same start time
 * where known; a record from another host cannot be checked and counts as alive), `stale` when it
 * is gone or its PID now belongs to another process. Permission errors are thrown.
 */
export async function readPidFile(path: string): Promise<PidFileState> {
  let text: string;
  let record: PidRecord | null;
  try {
    text = await readFile(path, 'utf8');
    record = await parseRecord(path, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    throw err;
  }
  if (record === null) return { status: 'corrupt', text };
  const status = identityStatus(record);
  if (status === 'dead') return { status: 'stale', record, reason: 'dead' };
  if (status === 'reused') return { status: 'stale', record, reason: 'pid_reused' };
  return { status: 'alive', record };
}

function isOurs(record: PidRecord): boolean {
  const self = currentIdentity();
  return (
    record.pid === self.pid && record.host === self.host && record.processStartTime === self.processStartTime
  );
}

/**
 * Removes the PID file if it is the current process's own (same PID, start time and host); with
 * `alsoStale`, also when it records a process that is gone. Anything else is left in place.
 * Returns true when the file was removed.
 */
export async function removePidFile(path: string, options: { alsoStale?: boolean } = {}): Promise<boolean> {
  // Move aside first, so the check and the removal concern the same file even if it is being rewritten.
  const moved = await moveAside(path, 'remove');
  if (!moved) return false;
  const record = await parseRecord(moved.grave, moved.text).catch(() => null);
  const status = record === null ? undefined : identityStatus(record);
  const removable =
    record !== null &&
    (isOurs(record) || (options.alsoStale === true && (status === 'dead' || status === 'reused')));
  if (!removable) await putBack(path, moved);
  await unlink(moved.grave).catch(() => undefined);
  return removable;
}
