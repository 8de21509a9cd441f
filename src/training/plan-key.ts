/**
 * The plan-sealing key (effectful): 32 random bytes, hex, in the user's config directory
 * (`$XDG_CONFIG_HOME/marshal/plan-seal.key`, else `$HOME/.config/marshal/plan-seal.key`, the same
 * directory as the trust store of core/trust-store.ts). Created on first use by `train plan`:
 * written to a private temp file (0600) and linked into place, so two planners racing never
 * replace each other's key and a reader never sees half a key. Read back only when it is a
 * regular file (no symlink), owned by this user and private (no group/other bits). The key is
 * never logged and never enters an error message: errors carry its path only.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { atomicTempPath } from '../core/atomic-file.ts';
import { MarshalError } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import { TRAINING_ERRORS } from './errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

export const PLAN_KEY_FILE = 'plan-seal.key';

/** A loaded key: its bytes, where it lives, and a public id (first 16 hex of its SHA-256). */
export interface PlanKey {
  key: Buffer;
  path: string;
  id: string;
}

/** Where the key lives for `env`; undefined without an absolute XDG_CONFIG_HOME or HOME. */
export function planKeyPath(env: Env): string | undefined {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'marshal', PLAN_KEY_FILE);
  const home = env.HOME;
  if (home && isAbsolute(home)) return join(home, '.config', 'marshal', PLAN_KEY_FILE);
  return undefined;
}

/** The public id of a key: never the key, only the start of its SHA-256. */
export function planKeyId(key: Uint8Array): string {
  return sha256(key).slice(0, 16);
}

const keyError = (message: string, path: string | null, hint?: string) =>
  new MarshalError(TRAINING_ERRORS.E_PLAN_KEY, message, {
    details: { field: 'planKey', ...(path ? { file: path } : {}) },
    ...(hint ? { hint } : {}),
  });

/**
 * Loads the user's plan key. With `create`, a missing key is made (first `train plan`); without
 * it (launch, check) a missing key is an error: the plan cannot have been sealed by this user.
 */
export async function loadPlanKey(env: Env, options: { create: boolean }): Promise<PlanKey> {
  const path = planKeyPath(env);
  if (path === undefined) {
    throw keyError(
      'plan key: no user config directory (neither XDG_CONFIG_HOME nor HOME is an absolute path)',
      null,
      'set HOME or XDG_CONFIG_HOME',
    );
  }
  const existing = await readKey(path);
  if (existing) return existing;
  if (!options.create) {
    throw keyError(
      `plan key: ${path} does not exist, so no plan was sealed by this user here`,
      path,
      'plans are verified with the key of the user who made them: re-plan (marshal train plan)',
    );
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = atomicTempPath(path);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${randomBytes(32).toString('hex')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link() never replaces: when another planner won the race, its key is the key.
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const made = await readKey(path);
  if (!made) throw keyError(`plan key: ${path} vanished while it was created`, path);
  return made;
}

async function readKey(path: string): Promise<PlanKey | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw keyError(`plan key: ${path} is a symlink; refusing it`, path);
    throw keyError(`plan key: cannot read ${path} (${code ?? 'error'})`, path);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw keyError(`plan key: ${path} is not a regular file`, path);
    const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
    if (st.uid !== uid) throw keyError(`plan key: ${path} belongs to uid ${st.uid}, not to you`, path);
    if ((st.mode & 0o077) !== 0) {
      throw keyError(
        `plan key: ${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)})`,
        path,
        `chmod 600 ${path}, then re-plan: anyone who read it can forge plans`,
      );
    }
    if (st.size > 4096) throw keyError(`plan key: ${path} is not a plan key (too large)`, path);
    const text = (await handle.readFile('utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(text))
      throw keyError(`plan key: ${path} is not a plan key (64 hex digits)`, path);
    const key = Buffer.from(text, 'hex');
    return { key, path, id: planKeyId(key) };
  } finally {
    await handle.close();
  }
}
