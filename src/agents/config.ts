/**
 * Loading `marshal.yaml` with its trust policy. A config named on the command line (`-c file`) is
 * the user's word; a `./marshal.yaml` discovered in the working directory may come from a cloned
 * repository and counts only once the user trusted its exact content (`marshal trust`, which
 * records its SHA-256: a changed file is untrusted again). An untrusted config may set plain
 * options, but what it may not do is dropped and reported in `ignored`:
 *
 * - load or run code (`tools.dir`, `mcp.servers`, `provider.claudeBinary`),
 * - widen what the model may touch (`tools.allowWrite`, `tools.allowSecretFiles` set to true),
 * - name the key variable (`provider.apiKeyEnv`) or change where a key is sent (`provider.baseUrl`),
 * - read environment variables (`${VAR}` is kept literally, never interpolated),
 * - reach files past its own directory (`tools.workspace`, `output.trace` outside it).
 */
import { realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, parseConfigText } from '../core/config.ts';
import { describeCappedRead, readCappedFile } from '../core/files.ts';
import { sha256 } from '../core/hash.ts';
import { resolveInside } from '../core/safe-path.ts';
import { isTrusted } from '../core/trust-store.ts';
import { type MarshalConfig, marshalConfigSchema } from './marshal-config.ts';

/** Largest config file read (a bigger one is E_CONFIG, never read whole). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** How far a loaded config is believed. */
export type ConfigTrust = 'none' | 'explicit' | 'trusted' | 'untrusted';

/** A loaded config and where it came from (`path` undefined when no file was used). */
export interface LoadedConfig {
  config: MarshalConfig;
  path: string | undefined;
  /** `none` without a file; `explicit` for `configPath`; else `trusted` or `untrusted`. */
  trust: ConfigTrust;
  /** What an untrusted config asked for and did not get (key paths, `${VAR}` references). */
  ignored: string[];
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Loads the config: `configPath` (relative to `cwd`) when given, which must exist (trusted); else
 * `./marshal.yaml` in `cwd` when present (trusted only when the store in `env`'s user config
 * directory holds its current SHA-256); else an empty config. Errors are E_CONFIG naming the file,
 * line, key path and value.
 */
export async function loadMarshalConfig(options: {
  configPath?: string | undefined;
  cwd: string;
  env: Env;
}): Promise<LoadedConfig> {
  const explicit = options.configPath !== undefined;
  const path = resolve(options.cwd, options.configPath ?? 'marshal.yaml');
  const read = await readCappedFile(path, { maxBytes: MAX_CONFIG_BYTES });
  if (read.kind === 'missing' && !explicit)
    return { config: {}, path: undefined, trust: 'none', ignored: [] };
  if (read.kind !== 'ok') {
    const what = read.kind === 'missing' ? 'not found' : describeCappedRead(read);
    throw new ConfigError(`${path}: config file ${what}`, { file: path, reason: read.kind });
  }
  if (explicit) {
    const config = parseConfigText(read.text, path, marshalConfigSchema, { env: options.env });
    return { config, path, trust: 'explicit', ignored: [] };
  }
  const real = await realpath(path);
  if (await isTrusted(real, sha256(read.bytes), options.env)) {
    const config = parseConfigText(read.text, path, marshalConfigSchema, { env: options.env });
    return { config, path, trust: 'trusted', ignored: [] };
  }
  const referenced = new Set<string>();
  const config = parseConfigText(read.text, path, marshalConfigSchema, { interpolate: false, referenced });
  const ignored = [
    ...(await restrictUntrusted(config, dirname(real))),
    ...[...referenced].map((name) => `\${${name}}`),
  ];
  return { config, path, trust: 'untrusted', ignored };
}

/** Drops from `config` (in place) what an untrusted file may not set; returns the key paths dropped. */
async function restrictUntrusted(config: MarshalConfig, dir: string): Promise<string[]> {
  const ignored: string[] = [];
  if (config.provider?.apiKeyEnv !== undefined) {
    delete config.provider.apiKeyEnv;
    ignored.push('provider.apiKeyEnv');
  }
  if (config.provider?.baseUrl !== undefined) {
    delete config.provider.baseUrl;
    ignored.push('provider.baseUrl');
  }
  if (config.tools?.dir !== undefined) {
    delete config.tools.dir;
    ignored.push('tools.dir');
  }
  // Starting an MCP server or another Claude binary is running code.
  if (config.mcp?.servers !== undefined) {
    delete config.mcp.servers;
    ignored.push('mcp.servers');
  }
  if (config.provider?.claudeBinary !== undefined) {
    delete config.provider.claudeBinary;
    ignored.push('provider.claudeBinary');
  }
  // A model URI is a download of gigabytes; a path may point anywhere on the machine.
  if (config.provider?.modelFile !== undefined) {
    delete config.provider.modelFile;
    ignored.push('provider.modelFile');
  }
  for (const [i, agent] of (config.heavy?.perAgent ?? []).entries()) {
    for (const key of ['baseUrl', 'apiKeyEnv'] as const) {
      if (agent[key] !== undefined) {
        delete agent[key];
        ignored.push(`heavy.perAgent[${i}].${key}`);
      }
    }
  }
  // A file found in the current directory must not widen what the model may touch.
  for (const key of ['allowWrite', 'allowSecretFiles'] as const) {
    if (config.tools?.[key] === true) {
      delete config.tools[key];
      ignored.push(`tools.${key}`);
    }
  }
  if (config.tools?.workspace !== undefined && !(await staysInside(dir, config.tools.workspace))) {
    delete config.tools.workspace;
    ignored.push('tools.workspace');
  }
  if (config.output?.trace !== undefined && !(await staysInside(dir, config.output.trace))) {
    delete config.output.trace;
    ignored.push('output.trace');
  }
  return ignored;
}

/** True when `rel` (relative to `dir`) resolves inside `dir`, symlinks followed. */
async function staysInside(dir: string, rel: string): Promise<boolean> {
  try {
    await resolveInside(dir, rel);
    return true;
  } catch {
    return false;
  }
}
