/**
 * The user's list of trusted files (config files found in a directory, which may come from a
 * cloned repository): each absolute path with the SHA-256 of the content the user trusted. A
 * changed file no longer matches, so it is untrusted again (direnv `allow`, mise `trust`).
 *
 * The store is `$XDG_CONFIG_HOME/marshal/trusted.json`, else `$HOME/.config/marshal/trusted.json`,
 * written atomically with mode 0600. The environment comes from the caller (the CLI's io.env), so
 * tests point it at temp dirs.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from './atomic-file.ts';
import { CORE_ERRORS, MarshalError } from './errors.ts';
import { describeCappedRead, readCappedFile } from './files.ts';

type Env = Readonly<Record<string, string | undefined>>;

const MAX_STORE_BYTES = 4 * 1024 * 1024;

const TrustStoreSchema = z.object({
  schemaVersion: z.literal(1),
  files: z.record(
    z.string(),
    z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), trustedAt: z.string() }),
  ),
});

/** One trusted file. */
export interface TrustEntry {
  /** Absolute path of the file. */
  path: string;
  sha256: string;
  /** ISO time it was trusted. */
  trustedAt: string;
}

/** Where the store lives for `env`, or undefined when neither XDG_CONFIG_HOME nor HOME is set. */
export function trustStorePath(env: Env): string | undefined {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'marshal', 'trusted.json');
  const home = env.HOME;
  if (home && isAbsolute(home)) return join(home, '.config', 'marshal', 'trusted.json');
  return undefined;
}

async function readStore(file: string): Promise<Map<string, TrustEntry>> {
  const read = await readCappedFile(file, { maxBytes: MAX_STORE_BYTES });
  if (read.kind === 'missing') return new Map();
  if (read.kind !== 'ok') {
    throw new MarshalError(CORE_ERRORS.E_CONFIG, `trust store ${file} ${describeCappedRead(read)}`, {
      details: { file },
    });
  }
  let parsed: z.output<typeof TrustStoreSchema>;
  try {
    parsed = TrustStoreSchema.parse(JSON.parse(read.text));
  } catch (cause) {
    throw new MarshalError(CORE_ERRORS.E_CONFIG, `trust store ${file} is corrupt`, {
      cause,
      details: { file },
      hint: `remove ${file} and trust your files again`,
    });
  }
  return new Map(Object.entries(parsed.files).map(([path, e]) => [path, { path, ...e }]));
}

function requireStore(env: Env): string {
  const file = trustStorePath(env);
  if (file === undefined) {
    throw new MarshalError(
      CORE_ERRORS.E_CONFIG,
      'no user config directory: neither XDG_CONFIG_HOME nor HOME is set to an absolute path',
      { details: { variables: ['XDG_CONFIG_HOME', 'HOME'] } },
    );
  }
  return file;
}

async function writeStore(file: string, entries: Map<string, TrustEntry>): Promise<void> {
  const files: Record<string, { sha256: string; trustedAt: string }> = {};
  for (const e of [...entries.values()].sort((a, b) => a.path.localeCompare(b.path)))
    files[e.path] = { sha256: e.sha256, trustedAt: e.trustedAt };
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeJsonAtomic(file, { schemaVersion: 1, files }, { mode: 0o600 });
}

/**
 * True when `path` (absolute) is trusted with exactly this content hash. No store (or no config
 * directory) means nothing is trusted; a corrupt store throws E_CONFIG.
 */
export async function isTrusted(path: string, sha256: string, env: Env): Promise<boolean> {
  const file = trustStorePath(env);
  if (file === undefined) return false;
  return (await readStore(file)).get(path)?.sha256 === sha256;
}

/** Records `path` (absolute) with its content hash; returns the entry. */
export async function addTrusted(
  path: string,
  sha256: string,
  env: Env,
  now = new Date(),
): Promise<TrustEntry> {
  const file = requireStore(env);
  const entries = await readStore(file);
  const entry: TrustEntry = { path, sha256, trustedAt: now.toISOString() };
  entries.set(path, entry);
  await writeStore(file, entries);
  return entry;
}

/** Forgets `path`; true when it was trusted. */
export async function removeTrusted(path: string, env: Env): Promise<boolean> {
  const file = requireStore(env);
  const entries = await readStore(file);
  if (!entries.delete(path)) return false;
  await writeStore(file, entries);
  return true;
}

/** Every trusted file, sorted by path. */
export async function listTrusted(env: Env): Promise<TrustEntry[]> {
  const file = trustStorePath(env);
  if (file === undefined) return [];
  return [...(await readStore(file)).values()].sort((a, b) => a.path.localeCompare(b.path));
}
