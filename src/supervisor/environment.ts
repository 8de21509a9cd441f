/**
 * Environments: `environments/<name>/` of a workspace, and how to run one.
 *
 * With `environments/<name>/marshal-env.yaml` (strict schema, `${VAR}` interpolation):
 *
 * ```yaml
 * start: [./bin/server, --fast]   # argv; a path with "/" is relative to the environment folder
 * cwd: app                        # inside the environment folder (default: the folder itself)
 * env: { MODE: prod }             # added to the child's environment
 * port: 9000                      # default: --port in the server args, else 8188
 * host: 127.0.0.1                 # where to probe (default 127.0.0.1)
 * sync: { argv: [./sync.sh], timeout: 600 }   # seconds; run before a (re)start and a switch
 * health: { http: /healthz }      # or { tcp: true } (default when start is given: tcp)
 * liveness: { http: /healthz, period: 10, timeout: 1, failureThreshold: 3 }   # or { tcp: true, ... };
 *                                 # optional (off by default): restart a child that stops answering
 * ```
 *
 * Without `start`, the ComfyGit layout is used, started as ComfyGit's orchestrator does:
 * `.venv/bin/python ComfyUI/main.py [--cpu] <extra args> <server args>` in `ComfyUI/` (`--cpu` when
 * the venv's torch is not a CUDA/ROCm build, see comfygit-start.ts; extra args from
 * `orchestrator_config.json`), port from `--port` (default 8188), readiness by HTTP GET `/system_stats`.
 */

import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../core/config.ts';
import { InvalidInputError, MarshalError } from '../core/errors.ts';
import { resolveInside } from '../core/safe-path.ts';
import { torchBackendFlags } from './comfygit-start.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { LIVENESS_DEFAULTS, type LivenessSpec } from './liveness.ts';
import { parseServerEndpoint } from './server-args.ts';
import type { Workspace } from './workspace.ts';

/** How readiness is probed. */
export type HealthCheck = { kind: 'http'; path: string } | { kind: 'tcp' };

/** Everything needed to run one environment. */
export interface EnvironmentSpec {
  name: string;
  /** `<workspace>/environments/<name>` */
  dir: string;
  /** Where the description came from. */
  source: 'marshal-env.yaml' | 'comfygit-layout';
  /** argv of the server (server args appended). */
  start: string[];
  cwd: string;
  /** Variables added to the child's environment (on top of the supervisor's). */
  env: Record<string, string>;
  port: number;
  /** Address probed for readiness (wildcards mapped to 127.0.0.1). */
  host: string;
  health: HealthCheck;
  sync?: { argv: string[]; timeoutMs: number };
  /** `comfyui.extra_args` of orchestrator_config.json in `start` (ComfyGit layout only; else empty). */
  extraArgs: string[];
  /** The liveness probe while running (marshal-env.yaml `liveness`); none by default. */
  liveness?: LivenessSpec;
}

/** Options of {@link loadEnvironment}. */
export interface LoadEnvironmentOptions {
  /** Server args (after `--` on the command line); appended to `start`. */
  serverArgs?: string[];
  /** Variables for `${VAR}` interpolation in marshal-env.yaml. */
  env?: Readonly<Record<string, string | undefined>>;
  /** ComfyGit layout: `comfyui.extra_args`, placed after the backend flag and before the server args. */
  extraArgs?: readonly string[];
}

/** File name of the optional per-environment description. */
export const ENV_FILE = 'marshal-env.yaml';
const DEFAULT_PORT = 8188;
const DEFAULT_SYNC_TIMEOUT_S = 600;

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const livenessTiming = {
  /** seconds between probes */
  period: z.number().min(0.01).max(3600).optional(),
  /** seconds one probe may take */
  timeout: z.number().min(0.01).max(60).optional(),
  failureThreshold: z.number().int().min(1).max(100).optional(),
};

/** Schema of `marshal-env.yaml`. */
export const EnvFileSchema = z.strictObject({
  start: z.array(z.string().min(1)).min(1).optional(),
  cwd: z.string().min(1).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), scalar).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  host: z.string().min(1).optional(),
  sync: z
    .strictObject({
      argv: z.array(z.string().min(1)).min(1),
      /** seconds */
      timeout: z.number().positive().optional(),
    })
    .optional(),
  health: z
    .union([z.strictObject({ http: z.string().startsWith('/') }), z.strictObject({ tcp: z.literal(true) })])
    .optional(),
  liveness: z
    .union([
      z.strictObject({ http: z.string().startsWith('/'), ...livenessTiming }),
      z.strictObject({ tcp: z.literal(true), ...livenessTiming }),
    ])
    .optional(),
});
/** A parsed `marshal-env.yaml`. */
export type EnvFile = z.infer<typeof EnvFileSchema>;

const UNSAFE_NAME = /[/\\\x00-\x1f\x7f]/;

/** Throws E_INVALID_INPUT unless `name` is a plain folder name (no separators, no `..`, no NUL). */
export function validateEnvironmentName(name: string, field = 'environment'): string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    UNSAFE_NAME.test(name) ||
    name.includes('..') ||
    name === '.'
  ) {
    throw new InvalidInputError(
      field,
      name,
      'a plain environment name (no path separators, no "..", no control characters)',
    );
  }
  if (name.length > 255) throw new InvalidInputError(field, name, 'a name of at most 255 characters');
  return name;
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

function invalid(name: string, message: string, path: string): MarshalError {
  return new MarshalError(
    SUPERVISOR_ERRORS.E_ENV_INVALID,
    `environment ${JSON.stringify(name)}: ${message}: ${path}`,
    {
      details: { environment: name, path },
    },
  );
}

/** Names of the workspace's environments (folders under `environments/`), sorted. */
export async function listEnvironments(ws: Workspace): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(join(ws.root, 'environments'), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !e.name.includes('..'))
    .map((e) => e.name)
    .sort();
}

/**
 * Loads environment `name` of `ws`: validates the name, reads `marshal-env.yaml` when present,
 * checks that the interpreter / entry point exist. Errors: E_INVALID_INPUT (bad name),
 * E_ENV_NOT_FOUND, E_ENV_INVALID (names the missing path), E_CONFIG (bad marshal-env.yaml).
 */
export async function loadEnvironment(
  ws: Workspace,
  name: string,
  options: LoadEnvironmentOptions = {},
): Promise<EnvironmentSpec> {
  validateEnvironmentName(name);
  const envsDir = join(ws.root, 'environments');
  const dir = join(envsDir, name);
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    const known = await listEnvironments(ws);
    throw new MarshalError(
      SUPERVISOR_ERRORS.E_ENV_NOT_FOUND,
      `environment ${JSON.stringify(name)} not found in ${envsDir}`,
      {
        details: { environment: name, path: dir, known },
        hint:
          known.length > 0 ? `known environments: ${known.join(', ')}` : 'the workspace has no environments/',
      },
    );
  }
  const serverArgs = options.serverArgs ?? [];
  const file = join(dir, ENV_FILE);
  const desc: EnvFile = (await exists(file))
    ? await loadConfigFile(file, EnvFileSchema, { env: options.env ?? {} })
    : {};

  const base = desc.start ? await customStart(name, dir, desc) : await comfyGitStart(name, dir, desc);
  const extraArgs = desc.start ? [] : [...(options.extraArgs ?? [])];
  const leading = desc.start ? [] : [...(await torchBackendFlags(join(dir, '.venv'))), ...extraArgs];
  // Later arguments win (ComfyGit's rule), so the server args override the extra args.
  const endpoint = parseServerEndpoint([...extraArgs, ...serverArgs]);
  const spec: EnvironmentSpec = {
    name,
    dir,
    source: desc.start ? 'marshal-env.yaml' : 'comfygit-layout',
    start: [...base.argv, ...leading, ...serverArgs],
    extraArgs,
    cwd: base.cwd,
    env: { ...desc.env },
    port: endpoint.port ?? desc.port ?? DEFAULT_PORT,
    host: desc.host ?? endpoint.host,
    health: desc.health
      ? 'http' in desc.health
        ? { kind: 'http', path: desc.health.http }
        : { kind: 'tcp' }
      : desc.start
        ? { kind: 'tcp' }
        : { kind: 'http', path: '/system_stats' },
  };
  if (desc.liveness) {
    const l = desc.liveness;
    spec.liveness = {
      check: 'http' in l ? { kind: 'http', path: l.http } : { kind: 'tcp' },
      periodMs: Math.round((l.period ?? LIVENESS_DEFAULTS.periodMs / 1000) * 1000),
      timeoutMs: Math.round((l.timeout ?? LIVENESS_DEFAULTS.timeoutMs / 1000) * 1000),
      failureThreshold: l.failureThreshold ?? LIVENESS_DEFAULTS.failureThreshold,
    };
  }
  if (desc.sync) {
    spec.sync = {
      argv: [await resolveProgram(name, dir, desc.sync.argv[0] ?? ''), ...desc.sync.argv.slice(1)],
      timeoutMs: Math.round((desc.sync.timeout ?? DEFAULT_SYNC_TIMEOUT_S) * 1000),
    };
  }
  return spec;
}

async function comfyGitStart(
  name: string,
  dir: string,
  desc: EnvFile,
): Promise<{ argv: string[]; cwd: string }> {
  const python = join(dir, '.venv', 'bin', 'python');
  const main = join(dir, 'ComfyUI', 'main.py');
  if (!(await exists(python, constants.X_OK)))
    throw invalid(name, 'interpreter missing or not executable', python);
  if (!(await exists(main, constants.R_OK))) throw invalid(name, 'entry point missing', main);
  const cwd = desc.cwd ? await resolveCwd(name, dir, desc.cwd) : join(dir, 'ComfyUI');
  return { argv: [python, main], cwd };
}

async function customStart(
  name: string,
  dir: string,
  desc: EnvFile,
): Promise<{ argv: string[]; cwd: string }> {
  const start = desc.start ?? [];
  const cwd = desc.cwd ? await resolveCwd(name, dir, desc.cwd) : dir;
  return { argv: [await resolveProgram(name, dir, start[0] ?? ''), ...start.slice(1)], cwd };
}

/** A program with a slash is a path (relative to the environment folder) and must exist; a bare name is looked up on PATH at spawn. */
async function resolveProgram(name: string, dir: string, program: string): Promise<string> {
  if (!program.includes('/')) return program;
  const path = isAbsolute(program) ? program : resolve(dir, program);
  if (!(await exists(path, constants.X_OK))) throw invalid(name, 'program missing or not executable', path);
  return path;
}

async function resolveCwd(name: string, dir: string, cwd: string): Promise<string> {
  const path = await resolveInside(dir, cwd, { field: `${ENV_FILE} cwd` });
  const ok = await stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!ok) throw invalid(name, 'working directory missing', path);
  return path;
}
