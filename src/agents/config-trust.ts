/**
 * Trusting a marshal.yaml (`marshal trust`): record the SHA-256 of its current content in the
 * user's trust store (core/trust-store.ts), forget it, list what is trusted and whether it changed.
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../core/config.ts';
import { describeCappedRead, readCappedFile } from '../core/files.ts';
import { sha256 } from '../core/hash.ts';
import {
  addTrusted,
  listTrusted,
  removeTrusted,
  type TrustEntry,
  trustStorePath,
} from '../core/trust-store.ts';
import { MAX_CONFIG_BYTES } from './config.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** A trusted file and how it compares with the file as it is now. */
export interface TrustedConfig extends TrustEntry {
  state: 'unchanged' | 'changed' | 'missing';
}

async function contentHash(path: string): Promise<{ real: string; hash: string }> {
  const read = await readCappedFile(path, { maxBytes: MAX_CONFIG_BYTES });
  if (read.kind !== 'ok')
    throw new ConfigError(`${path}: config file ${describeCappedRead(read)}`, { file: path });
  return { real: await realpath(path), hash: sha256(read.bytes) };
}

/** Trusts `file` (relative to `cwd`) as it is now. Throws E_CONFIG when it is not a readable regular file. */
export async function trustConfigFile(file: string, options: { cwd: string; env: Env }): Promise<TrustEntry> {
  const { real, hash } = await contentHash(resolve(options.cwd, file));
  return addTrusted(real, hash, options.env);
}

/** Forgets `file`; true when it was trusted. */
export async function untrustConfigFile(file: string, options: { cwd: string; env: Env }): Promise<boolean> {
  const path = resolve(options.cwd, file);
  const real = await realpath(path).catch(() => path);
  return removeTrusted(real, options.env);
}

/** Where the trust store of `env` lives (undefined without XDG_CONFIG_HOME or HOME). */
export function configTrustStorePath(env: Env): string | undefined {
  return trustStorePath(env);
}

/** Every trusted config with its state now. */
export async function listTrustedConfigs(env: Env): Promise<TrustedConfig[]> {
  const entries = await listTrusted(env);
  return Promise.all(
    entries.map(async (e): Promise<TrustedConfig> => {
      try {
        const { hash } = await contentHash(e.path);
        return { ...e, state: hash === e.sha256 ? 'unchanged' : 'changed' };
      } catch {
        return { ...e, state: 'missing' };
      }
    }),
  );
}
