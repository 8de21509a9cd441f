/**
 * Who is on the other end of a loopback TCP connection, from Linux /proc: the peer's socket is the
 * entry of `/proc/net/tcp` (or `tcp6`) whose local address is the peer's address:port and whose
 * remote address is ours; its `uid` column is the owner of that socket. This lets the control API
 * trust a same-user local client (ComfyGit's panel proxy, which has no token) without trusting
 * other users of the machine. Where /proc cannot tell, the answer is null (not trusted).
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';

/** The two ends of a connection as the server sees them. */
export interface ConnectionEnds {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** `/proc/net/tcp` encoding of an IPv4 address: 4 bytes in host (little-endian) order, hex. Pure. */
function hexV4(address: string): string {
  return address
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .reverse()
    .join('')
    .toUpperCase();
}

/** `/proc/net/tcp6` encoding: the v4-mapped form of an IPv4 address (`::ffff:a.b.c.d`). Pure. */
function hexV4Mapped(address: string): string {
  return `0000000000000000FFFF0000${hexV4(address)}`;
}

/** Strips the `::ffff:` prefix Node reports for IPv4 peers of a dual-stack socket. */
function plainV4(address: string): string | undefined {
  const bare = address.replace(/^::ffff:/i, '');
  return isIPv4(bare) ? bare : undefined;
}

const hexPort = (port: number) => port.toString(16).padStart(4, '0').toUpperCase();

/**
 * The uid owning the peer's socket of connection `ends`, found in the text of `/proc/net/tcp`
 * and `/proc/net/tcp6`; undefined when no entry matches. Only IPv4 (and v4-mapped) peers are
 * resolved: the control API listens on 127.0.0.1. Pure.
 */
export function peerUidFromProc(ends: ConnectionEnds, tcp: string, tcp6: string): number | undefined {
  const peer = plainV4(ends.remoteAddress);
  const self = plainV4(ends.localAddress);
  if (peer === undefined || self === undefined) return undefined;
  const candidates: Array<[string, string, string]> = [
    [tcp, `${hexV4(peer)}:${hexPort(ends.remotePort)}`, `${hexV4(self)}:${hexPort(ends.localPort)}`],
    [
      tcp6,
      `${hexV4Mapped(peer)}:${hexPort(ends.remotePort)}`,
      `${hexV4Mapped(self)}:${hexPort(ends.localPort)}`,
    ],
  ];
  for (const [text, local, remote] of candidates) {
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const cols = line.trim().split(/\s+/);
      if (cols.length < 8 || cols[1]?.toUpperCase() !== local || cols[2]?.toUpperCase() !== remote) continue;
      const uid = Number(cols[7]);
      if (Number.isSafeInteger(uid) && uid >= 0) return uid;
    }
  }
  return undefined;
}

/** The uid owning the peer's end of a loopback connection, or null when /proc cannot tell. */
export async function peerUid(ends: ConnectionEnds): Promise<number | null> {
  const [tcp, tcp6] = await Promise.all(
    ['/proc/net/tcp', '/proc/net/tcp6'].map((p) => readFile(p, 'utf8').catch(() => '')),
  );
  return peerUidFromProc(ends, tcp ?? '', tcp6 ?? '') ?? null;
}
