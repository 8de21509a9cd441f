/**
 * Files the file tools keep away from the model, because a page or file the model read may be
 * written by an attacker (prompt injection): secrets are not read unless the user allows them, and
 * neither secrets nor anything under `.git/` is ever written. Pure: matching is on path segments,
 * case-insensitive (macOS and Windows file systems are), so `.GIT/hooks` and `.Env` match too.
 */

/**
 * Basename patterns of secret files (`*` matches any run of characters). The list in README's
 * agents section is this one.
 */
export const SECRET_FILE_PATTERNS: readonly string[] = [
  '.env',
  '.env.*',
  '*.env',
  '*.pem',
  '*.key',
  '*.p12',
  '*.pfx',
  '*.keystore',
  '*.jks',
  'id_*',
  '.npmrc',
  '.yarnrc.yml',
  '.netrc',
  '_netrc',
  '.pypirc',
  '.pgpass',
  '.git-credentials',
  '.htpasswd',
  '.dockercfg',
  'credentials',
  'credentials.json',
  'secrets.*',
];

/** Directories whose whole content counts as secret (any depth). */
export const SECRET_DIRECTORIES: readonly string[] = ['.ssh', '.gnupg', '.aws', '.docker', '.kube'];

/** Directories never written into (any depth): git runs hooks and config from there. */
export const NO_WRITE_DIRECTORIES: readonly string[] = ['.git'];

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${body}$`, 'i');
}

const SECRET_RES = SECRET_FILE_PATTERNS.map(globToRegExp);

function segments(relPath: string): string[] {
  return relPath.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
}

/** Why `relPath` (workspace-relative) is a secret file, or undefined. */
export function secretReason(relPath: string): string | undefined {
  const parts = segments(relPath);
  const name = parts.at(-1);
  const dir = parts.slice(0, -1).find((p) => SECRET_DIRECTORIES.includes(p.toLowerCase()));
  if (dir !== undefined) return `is inside ${dir}/, which holds secrets`;
  if (name !== undefined) {
    const i = SECRET_RES.findIndex((re) => re.test(name));
    if (i >= 0) return `matches the protected pattern ${SECRET_FILE_PATTERNS[i]}`;
  }
  return undefined;
}

/** Why `relPath` may never be written (a `.git` segment anywhere, or a secret file), or undefined. */
export function noWriteReason(relPath: string): string | undefined {
  const dir = segments(relPath).find((p) => NO_WRITE_DIRECTORIES.includes(p.toLowerCase()));
  if (dir !== undefined) return `is inside ${dir}/`;
  return secretReason(relPath);
}
