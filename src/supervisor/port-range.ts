/**
 * Binding a server to the first free loopback port of a range (the original's 5050-5100), and
 * parsing a range written as `5050-5100`, `5050` or `0` (ephemeral, for tests).
 */

import type { Server } from 'node:net';
import { InvalidInputError, MarshalError } from '../core/errors.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';

export interface PortRange {
  from: number;
  to: number;
}

/** The default control port range, as in the original orchestrator. */
export const DEFAULT_CONTROL_PORTS: PortRange = { from: 5050, to: 5100 };

/** Parses `5050-5100`, `5050` or `0`; `field` names the setting in the error. */
export function parsePortRange(text: string, field: string): PortRange {
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(text);
  const from = m ? Number(m[1]) : Number.NaN;
  const to = m?.[2] !== undefined ? Number(m[2]) : from;
  if (!m || from > 65535 || to > 65535 || to < from || (from === 0 && to !== 0)) {
    throw new InvalidInputError(
      field,
      text,
      'a port range like 5050-5100, a single port, or 0 for any free port',
    );
  }
  return { from, to };
}

/** Listens on 127.0.0.1 at the first port of `range` that is free; resolves to the bound port. */
export async function listenInRange(server: Server, range: PortRange): Promise<number> {
  for (let port = range.from; port <= range.to; port++) {
    const bound = await tryListen(server, port);
    if (bound !== undefined) return bound;
  }
  throw new MarshalError(
    SUPERVISOR_ERRORS.E_NO_CONTROL_PORT,
    `no free port on 127.0.0.1 in ${range.from}-${range.to}`,
    {
      details: { from: range.from, to: range.to },
      hint: 'set MARSHAL_CONTROL_PORTS to another range, e.g. 5200-5250',
    },
  );
}

function tryListen(server: Server, port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(undefined);
      else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: '127.0.0.1', port, exclusive: true });
  });
}
