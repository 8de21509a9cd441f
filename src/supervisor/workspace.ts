/**
 * Workspace detection: a workspace is a folder with `.metadata/` (ComfyGit's layout).
 *
 * Order: an explicit path (`--workspace`), `COMFYGIT_HOME` (when it exists, like ComfyGit),
 * `~/comfygit` (when it has `.metadata/`), then upward from the current directory (the first
 * folder holding `.metadata/`). Nothing found: `E_NO_WORKSPACE` (exit 2) listing every place tried.
 */

import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MarshalError } from '../core/errors.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';

/** A located workspace. */
export interface Workspace {
  /** Absolute path of the workspace folder. */
  root: string;
  /** `<root>/.metadata` (protocol files live here). */
  metadataDir: string;
}

/** Where {@link findWorkspace} looks (the CLI passes io.env, io.cwd and the home folder). */
export interface FindWorkspaceOptions {
  /** `--workspace` value (relative to `cwd`); when given, it is the only candidate. */
  explicit?: string | undefined;
  /** Environment variables (reads COMFYGIT_HOME). */
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  home: string;
}

/** Wraps a root folder as a {@link Workspace} (no checks). */
export function workspaceAt(root: string): Workspace {
  const abs = resolve(root);
  return { root: abs, metadataDir: join(abs, '.metadata') };
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds the workspace. An explicit path must be an existing folder (its `.metadata/` is created
 * on first use by the supervisor).
 *
 * @example
 * const ws = await findWorkspace({ explicit: values.workspace, env: io.env, cwd: io.cwd, home: homedir() });
 */
export async function findWorkspace(options: FindWorkspaceOptions): Promise<Workspace> {
  const tried: string[] = [];
  if (options.explicit !== undefined && options.explicit !== '') {
    const root = resolve(options.cwd, options.explicit);
    if (options.explicit.includes('\0'))
      throw noWorkspace([`the given workspace ${options.explicit} (contains NUL)`]);
    if (await isDir(root)) return workspaceAt(root);
    throw noWorkspace([`the given workspace ${root} (not a directory)`]);
  }
  const home = options.env.COMFYGIT_HOME;
  if (home !== undefined && home !== '') {
    const root = resolve(options.cwd, home);
    if (await isDir(root)) return workspaceAt(root);
    tried.push(`COMFYGIT_HOME=${root} (does not exist)`);
  } else {
    tried.push('COMFYGIT_HOME (not set)');
  }
  const defaultRoot = join(options.home, 'comfygit');
  if (await isDir(join(defaultRoot, '.metadata'))) return workspaceAt(defaultRoot);
  tried.push(`${defaultRoot} (no .metadata/)`);
  let dir = resolve(options.cwd);
  for (;;) {
    if (await isDir(join(dir, '.metadata'))) return workspaceAt(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  tried.push(`${resolve(options.cwd)} and every parent folder (no .metadata/)`);
  throw noWorkspace(tried);
}

function noWorkspace(tried: string[]): MarshalError {
  const list = tried.map((t) => `  - ${sanitizeForLog(t)}`).join('\n');
  return new MarshalError(SUPERVISOR_ERRORS.E_NO_WORKSPACE, `no workspace found; looked at:\n${list}`, {
    details: { tried },
    hint: 'name the workspace folder explicitly, set COMFYGIT_HOME, or run inside a folder that has .metadata/',
  });
}
