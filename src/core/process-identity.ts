/**
 * Process identity: a PID plus the process start time, so a recycled PID is never mistaken for the
 * process that wrote a lock or PID file.
 *
 * On Linux the start time is field 22 of /proc/<pid>/stat (clock ticks since boot): it is fixed for
 * the life of a process and a new process reusing the PID gets a later one. On other platforms
 * {@link processStartTime} returns undefined and identity falls back to liveness only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Who a lock or PID file belongs to. `processStartTime` is null where the platform cannot tell. */
export interface ProcessIdentity {
  pid: number;
  processStartTime: number | null;
  host: string;
}

/**
 * How a recorded identity relates to the processes running now:
 * `alive` (same live process, or live PID where start times are unavailable), `dead` (no such
 * process, or a zombie), `reused` (the PID now belongs to a different process), `foreign` (recorded
 * on another host: cannot be checked from here).
 */
export type IdentityStatus = 'alive' | 'dead' | 'reused' | 'foreign';

function validPid(pid: number): boolean {
  // 0 and negative numbers address process groups in kill(2): never treat them as a process.
  return Number.isSafeInteger(pid) && pid > 0;
}

function readStat(pid: number): string | undefined {
  if (process.platform !== 'linux' || !validPid(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Fields of /proc/<pid>/stat after the command name. The name (field 2) is in parentheses and may
 * itself contain spaces and parentheses, so the split happens after the LAST `)`.
 * Index 0 is field 3 (state); field N is at index N - 3.
 */
function fieldsAfterComm(stat: string): string[] | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  return stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
}

/** Parses the start time (field 22) out of a /proc/<pid>/stat line; undefined when malformed. */
export function parseStatStartTime(stat: string): number | undefined {
  const value = fieldsAfterComm(stat)?.[22 - 3];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The /proc/<pid>/stat fields the supervisor and the process-group helpers read. */
export interface ProcStat {
  pid: number;
  /** Field 3: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  ppid: number;
  pgrp: number;
  /** Field 22, clock ticks since boot. */
  startTime: number;
  /** Neither a zombie nor dead. */
  live: boolean;
}

/** Parses a /proc/<pid>/stat line; undefined when malformed. Pure. */
export function parseProcStat(pid: number, stat: string): ProcStat | undefined {
  const f = fieldsAfterComm(stat);
  const state = f?.[0];
  if (f === undefined || state === undefined || state === '') return undefined;
  const [ppid, pgrp, startTime] = [Number(f[4 - 3]), Number(f[5 - 3]), Number(f[22 - 3])];
  if (![ppid, pgrp, startTime].every(Number.isSafeInteger)) return undefined;
  return { pid, state, ppid, pgrp, startTime, live: state !== 'Z' && state !== 'X' };
}

/** The stat fields of `pid`, or undefined (gone, malformed, or not Linux). */
export function readProcStat(pid: number): ProcStat | undefined {
  const stat = readStat(pid);
  return stat === undefined ? undefined : parseProcStat(pid, stat);
}

/**
 * Every process in /proc with its stat fields (a process that exits during the scan is left out);
 * undefined when /proc cannot be listed.
 */
export function listProcStats(): Map<number, ProcStat> | undefined {
  if (process.platform !== 'linux') return undefined;
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const table = new Map<number, ProcStat>();
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const entry = readProcStat(Number(name));
    if (entry !== undefined) table.set(entry.pid, entry);
  }
  return table;
}

/** Start time of `pid` in clock ticks since boot (Linux), or undefined (no such process, or not Linux). */
export function processStartTime(pid: number): number | undefined {
  const stat = readStat(pid);
  return stat === undefined ? undefined : parseStatStartTime(stat);
}

/**
 * True when a process with this PID exists and is not a zombie. `kill(pid, 0)` failing with EPERM
 * still means the process exists (it belongs to another user).
 */
export function isProcessAlive(pid: number): boolean {
  if (!validPid(pid)) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A killed but unreaped child still answers kill(pid, 0); /proc tells it is a zombie.
  const state = fieldsAfterComm(readStat(pid) ?? '')?.[0];
  return state !== 'Z' && state !== 'X';
}

let cachedSelf: ProcessIdentity | undefined;

/** Identity of the current process (computed once). */
export function currentIdentity(): ProcessIdentity {
  if (cachedSelf === undefined || cachedSelf.pid !== process.pid) {
    cachedSelf = {
      pid: process.pid,
      processStartTime: processStartTime(process.pid) ?? null,
      host: hostname(),
    };
  }
  return { ...cachedSelf };
}

/** Classifies a recorded identity against the live system; see {@link IdentityStatus}. */
export function identityStatus(identity: ProcessIdentity): IdentityStatus {
  if (identity.host !== hostname()) return 'foreign';
  if (!isProcessAlive(identity.pid)) return 'dead';
  if (identity.processStartTime === null) return 'alive';
  const now = processStartTime(identity.pid);
  if (now === undefined) return isProcessAlive(identity.pid) ? 'alive' : 'dead';
  return now === identity.processStartTime ? 'alive' : 'reused';
}

/**
 * True when the recorded process is still running: same PID and, where known, same start time.
 * An identity from another host cannot be checked and counts as alive (callers such as locks
 * then rely on their TTL).
 */
export function isSameLiveProcess(identity: ProcessIdentity): boolean {
  const status = identityStatus(identity);
  return status === 'alive' || status === 'foreign';
}
