/**
 * Handoff before a start: the port must be free, so a restart never fails on a busy port. Waits
 * (bounded) until nothing listens on the port; a port still held at the end names its holders.
 */

import { readFile } from 'node:fs/promises';
import { sleep } from '../core/async.ts';
import { MarshalError } from '../core/errors.ts';
import { probeTcp } from '../core/probe.ts';
import type { EnvironmentSpec } from './environment.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { listeningSockets, socketHolders } from './socket-owner.ts';

const POLL_MS = 100;

/** True when nothing listens on the port (/proc, else a refused TCP connect). */
export async function isPortFree(
  spec: Pick<EnvironmentSpec, 'host' | 'port'>,
  signal?: AbortSignal,
): Promise<boolean> {
  const sockets = await listeningSockets(spec.port);
  if (sockets !== null) return sockets.length === 0;
  const probe = await probeTcp({ host: spec.host, port: spec.port, timeoutMs: 1000, signal });
  return !probe.ok && probe.reason === 'refused';
}

/** Waits until the port is free; throws E_PORT_BUSY (naming the holders) after `timeoutMs`. */
export async function waitPortFree(
  spec: Pick<EnvironmentSpec, 'host' | 'port' | 'name'>,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await isPortFree(spec, options.signal)) return;
    if (Date.now() >= deadline) break;
    await sleep(POLL_MS, { signal: options.signal });
  }
  const sockets = (await listeningSockets(spec.port)) ?? [];
  const holders = sockets.length > 0 ? await socketHolders(new Set(sockets.map((s) => s.inode))) : [];
  const names = await Promise.all(holders.map(async (pid) => `${pid} (${await commOf(pid)})`));
  const by = names.length > 0 ? `pid ${names.join(', ')}` : 'another process';
  throw new MarshalError(
    SUPERVISOR_ERRORS.E_PORT_BUSY,
    `port ${spec.port} for ${spec.name} is still held by ${by} after ${options.timeoutMs} ms`,
    {
      details: { port: spec.port, holders },
      hint: 'stop the process holding the port, or start the server on another --port',
    },
  );
}

async function commOf(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return '?';
  }
}
