/**
 * How ComfyGit starts an environment, beyond the command line: the PyTorch backend flag and the
 * sync before every start. Facts from comfygit-manager's `server/orchestrator.py`:
 *
 * - `_get_comfyui_backend_flags`: the installed torch version (`uv pip show torch` of the
 *   environment's interpreter, line `Version: 2.9.0+cu128`) with a `+` suffix (CUDA, ROCm) needs
 *   no flag; without one it is a CPU build and ComfyUI gets `--cpu`, except on macOS (MPS);
 *   when the version cannot be found, `--cpu` too ("safer than crashing"). marshal reads the same
 *   `Version:` line from the installed distribution's METADATA (what `pip show` prints) without
 *   running anything.
 * - `_sync_environment`: `env.sync()` before every start, restart (42) and switch (43). marshal
 *   runs `cg -e <env> sync` (comfygit's CLI: global `-e/--env`, subcommand `sync`) when `cg` is on
 *   PATH, else the program in MARSHAL_SYNC_COMMAND (called with the environment's name).
 */
import { constants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { readCappedFile } from '../core/files.ts';

/** Largest METADATA file read (torch's is about 5 KiB). */
const MAX_METADATA_BYTES = 256 * 1024;

/** The version of torch installed in the venv at `venvDir`, or undefined when none is found. */
export async function installedTorchVersion(venvDir: string): Promise<string | undefined> {
  const siteDirs: string[] = [join(venvDir, 'Lib', 'site-packages')];
  const lib = join(venvDir, 'lib');
  const pythons = await readdir(lib).catch(() => [] as string[]);
  for (const name of pythons.sort())
    if (/^python\d/.test(name)) siteDirs.push(join(lib, name, 'site-packages'));
  for (const site of siteDirs) {
    const entries = await readdir(site).catch(() => [] as string[]);
    for (const entry of entries.sort()) {
      if (!/^torch-[^-]+\.dist-info$/.test(entry)) continue;
      const read = await readCappedFile(join(site, entry, 'METADATA'), {
        maxBytes: MAX_METADATA_BYTES,
        noFollow: true,
      });
      if (read.kind !== 'ok') continue;
      const m = /^Version:\s*(\S+)\s*$/m.exec(read.text);
      if (m?.[1]) return m[1];
    }
  }
  return undefined;
}

/** ComfyGit's backend flags for a torch version (see the module comment). Pure. */
export function backendFlagsFor(version: string | undefined, platform: NodeJS.Platform): string[] {
  if (version?.includes('+')) return [];
  if (version !== undefined && platform === 'darwin') return [];
  return ['--cpu'];
}

/** The backend flags of the environment whose venv is `venvDir`. */
export async function torchBackendFlags(
  venvDir: string,
  platform: NodeJS.Platform = process.platform,
): Promise<string[]> {
  return backendFlagsFor(await installedTorchVersion(venvDir), platform);
}

/** Absolute path of `program` on `PATH` (executable files only), or undefined. */
export async function findOnPath(program: string, path: string | undefined): Promise<string | undefined> {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, program);
    const ok = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) return candidate;
  }
  return undefined;
}

/** The sync command of a ComfyGit environment, or why there is none. */
export type ComfyGitSync = { argv: string[] } | { argv: null; reason: string };

/** `cg -e <env> sync` when `cg` is on PATH, else `$MARSHAL_SYNC_COMMAND <env>`, else none. */
export async function comfyGitSyncCommand(
  env: string,
  baseEnv: Readonly<Record<string, string | undefined>>,
): Promise<ComfyGitSync> {
  const cg = await findOnPath('cg', baseEnv.PATH);
  if (cg) return { argv: [cg, '-e', env, 'sync'] };
  const configured = baseEnv.MARSHAL_SYNC_COMMAND;
  if (configured !== undefined && configured !== '') return { argv: [configured, env] };
  return {
    argv: null,
    reason: 'no `cg` on PATH and MARSHAL_SYNC_COMMAND is not set: ComfyGit environments start without a sync',
  };
}
