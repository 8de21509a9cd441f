/**
 * The control API's gatekeeping: the bearer token file, constant-time token comparison, and the
 * loopback Host check that defeats DNS rebinding (a page on evil.example resolving to 127.0.0.1
 * still sends `Host: evil.example`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-file.ts';

/** Creates a fresh random token (32 bytes, hex) and writes it to `path` with mode 0600. */
export async function createControlToken(path: string): Promise<string> {
  const token = randomBytes(32).toString('hex');
  await writeFileAtomic(path, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Reads a token file; undefined when missing or empty. */
export async function readControlToken(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Whether an `Authorization` header carries `Bearer <expected>`. Both sides are hashed first so
 * the comparison is constant-time whatever the presented length.
 */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a `Host` header names the loopback interface (any port). A missing header is refused. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(host.trim().toLowerCase());
  return m !== null && LOOPBACK_HOSTS.has(m[1]!);
}
