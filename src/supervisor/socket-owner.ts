/**
 * Who listens on a TCP port, from Linux /proc: `/proc/net/tcp{,6}` gives the LISTEN sockets on the
 * port and their inodes; `/proc/<pid>/fd/*` links read `socket:[inode]` for the processes holding
 * them; a process's group is field 5 of `/proc/<pid>/stat`. Used so that a readiness probe counts
 * only when the listener belongs to the new child's process group (not an old child or a stranger
 * still answering on the port), and to name the holder of a busy port.
 *
 * Where /proc is unusable (not Linux, hidepid, another network namespace) the answers are
 * `unknown` / null and callers fall back to plain probing.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { listProcStats, parseProcStat } from '../core/process-identity.ts';

/** A LISTEN socket from /proc/net/tcp or tcp6. */
export interface ListenSocket {
  inode: string;
  port: number;
  family: 4 | 6;
}

const TCP_LISTEN = '0A';

/** Parses /proc/net/tcp or tcp6 text into its LISTEN sockets. Pure. */
export function parseProcNetTcp(text: string, family: 4 | 6): ListenSocket[] {
  const out: ListenSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    if (cols.length < 10 || cols[3] !== TCP_LISTEN) continue;
    const portHex = cols[1]?.split(':')[1];
    const inode = cols[9];
    if (portHex === undefined || inode === undefined || inode === '0') continue;
    out.push({ inode, port: Number.parseInt(portHex, 16), family });
  }
  return out;
}

/** LISTEN sockets on `port` (any address), or null when /proc/net cannot be read. */
export async function listeningSockets(port: number): Promise<ListenSocket[] | null> {
  const results = await Promise.all(
    ([4, 6] as const).map(async (family) => {
      try {
        const text = await readFile(family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6', 'utf8');
        return parseProcNetTcp(text, family);
      } catch {
        return null;
      }
    }),
  );
  if (results.every((r) => r === null)) return null;
  return results.flatMap((r) => r ?? []).filter((s) => s.port === port);
}

/** Process group (field 5) of a /proc/<pid>/stat line; undefined when malformed. Pure. */
export function parseStatPgrp(stat: string): number | undefined {
  const pgrp = parseProcStat(0, stat)?.pgrp;
  return pgrp !== undefined && pgrp > 0 ? pgrp : undefined;
}

async function allPids(): Promise<number[]> {
  try {
    return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

/** PIDs whose process group is `pgid` (from /proc, zombies included; empty when unusable). */
export async function groupMembers(pgid: number): Promise<number[]> {
  const table = listProcStats();
  if (table === undefined) return [];
  return [...table.values()].filter((s) => s.pgrp === pgid).map((s) => s.pid);
}

/** True when process `pid` holds one of `inodes` (fds we may not read count as not holding). */
async function holdsAny(pid: number, inodes: ReadonlySet<string>): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const target = await readlink(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1] !== undefined && inodes.has(m[1])) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

/** PIDs (among `pids`, default all) holding one of `inodes`. */
export async function socketHolders(inodes: ReadonlySet<string>, pids?: number[]): Promise<number[]> {
  const holders: number[] = [];
  for (const pid of pids ?? (await allPids())) {
    if (await holdsAny(pid, inodes)) holders.push(pid);
  }
  return holders;
}

/** Who listens on a port relative to a process group. */
export type PortOwnership =
  /** a member of the group holds a LISTEN socket on the port */
  | { status: 'owned' }
  /** something listens, but no member of the group holds it (holders: the PIDs we could see) */
  | { status: 'foreign'; holders: number[] }
  /** nothing listens on the port */
  | { status: 'none' }
  /** /proc cannot tell */
  | { status: 'unknown' };

/** Whether the listener on `port` belongs to process group `pgid`. */
export async function portOwnership(port: number, pgid: number): Promise<PortOwnership> {
  const sockets = await listeningSockets(port);
  if (sockets === null) return { status: 'unknown' };
  if (sockets.length === 0) return { status: 'none' };
  const inodes = new Set(sockets.map((s) => s.inode));
  // The leader usually holds the socket itself: check it before scanning the group.
  if (await holdsAny(pgid, inodes)) return { status: 'owned' };
  const members = (await groupMembers(pgid)).filter((p) => p !== pgid);
  if ((await socketHolders(inodes, members)).length > 0) return { status: 'owned' };
  return { status: 'foreign', holders: await socketHolders(inodes) };
}
