/**
 * Resolves a program the way execvp does (PATH search unless the name contains a slash), so that
 * a spawn failure can be reported synchronously with its real cause (ENOENT vs EACCES).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export type FindProgramResult = { ok: true; path: string } | { ok: false; code: 'ENOENT' | 'EACCES' };

function check(path: string): FindProgramResult {
  try {
    if (!statSync(path).isFile()) return { ok: false, code: 'EACCES' };
  } catch {
    return { ok: false, code: 'ENOENT' };
  }
  try {
    accessSync(path, constants.X_OK);
    return { ok: true, path };
  } catch {
    return { ok: false, code: 'EACCES' };
  }
}

/**
 * Finds `program`: a name with a slash is resolved against `cwd`; a bare name is searched in the
 * `PATH` of `env`. EACCES is reported when a candidate exists but none is executable.
 */
export function findProgram(
  program: string,
  cwd: string,
  env: Record<string, string | undefined>,
): FindProgramResult {
  if (program.includes('/')) return check(isAbsolute(program) ? program : resolve(cwd, program));
  let sawEacces = false;
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const found = check(join(dir === '' ? cwd : resolve(cwd, dir), program));
    if (found.ok) return found;
    if (found.code === 'EACCES') sawEacces = true;
  }
  return { ok: false, code: sawEacces ? 'EACCES' : 'ENOENT' };
}
