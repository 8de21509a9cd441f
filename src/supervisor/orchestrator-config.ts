/**
 * ComfyGit's `.metadata/orchestrator_config.json`: the settings file its orchestrator reads at
 * start (and again before every ComfyUI start, so a UI edit of `comfyui.extra_args` applies at the
 * next restart) and creates with its defaults when missing. Facts from comfygit-manager's
 * `server/orchestrator.py` (`DEFAULT_CONFIG`, `load_workspace_config`): sections are merged over
 * the defaults key by key; a file that is not valid JSON means "use the defaults" (printed, never
 * rewritten).
 *
 * The file is untrusted input (anything can write `.metadata/`): read without following a
 * symlink, regular files only, at most {@link MAX_ORCHESTRATOR_CONFIG_BYTES}. Like a file that is
 * not JSON, one that cannot be read that way falls back to the defaults with a warning. A value
 * marshal honours but cannot use (`crash_retry_max: "x"`) is an E_CONFIG error naming the key and
 * the value: ComfyGit would crash on it later or misbehave silently.
 */
import { z } from 'zod';
import { writeJsonAtomic } from '../core/atomic-file.ts';
import { CORE_ERRORS, MarshalError } from '../core/errors.ts';
import { describeCappedRead, readCappedFile } from '../core/files.ts';

/** File name under `.metadata/`. */
export const ORCHESTRATOR_CONFIG_FILE = 'orchestrator_config.json';
/** Largest config file read (ComfyGit's default file is about 600 bytes). */
export const MAX_ORCHESTRATOR_CONFIG_BYTES = 64 * 1024;

/** ComfyGit's `DEFAULT_CONFIG`, the content written when the file is missing. */
export const COMFYGIT_DEFAULT_CONFIG = {
  version: '1.0',
  orchestrator: {
    control_port: 5050,
    control_port_range: [5050, 5100],
    enable_control_server: true,
    log_level: 'info',
    health_check_timeout_s: 180,
    sync_timeout_s: 600,
    crash_retry_max: 3,
    crash_retry_delay_s: 10,
  },
  comfyui: { default_port: 8188, default_host: '127.0.0.1', extra_args: [] as string[] },
  frontend: { emergency_threshold_normal_s: 10, emergency_threshold_switching_s: 60 },
};

/** What marshal takes from the file (after the merge over the defaults). */
export interface OrchestratorConfig {
  controlPortRange: { from: number; to: number };
  enableControlServer: boolean;
  healthCheckTimeoutMs: number;
  syncTimeoutMs: number;
  crashRetryMax: number;
  crashRetryDelayMs: number;
  extraArgs: string[];
}

/** Outcome of {@link loadOrchestratorConfig}: the values, and why the defaults were used, if they were. */
export interface LoadedOrchestratorConfig {
  config: OrchestratorConfig;
  path: string;
  /** `created`: the file was missing and has been written with the defaults. */
  origin: 'file' | 'created' | 'defaults';
  /** Why the file was not used (not JSON, a symlink, too large, ...), or why it could not be created. */
  warning?: string;
}

const port = z.number().int().min(1).max(65535);
const Orchestrator = z.looseObject({
  control_port_range: z
    .tuple([port, port])
    .refine(([from, to]) => from <= to, 'the first port must not be above the second'),
  enable_control_server: z.boolean(),
  health_check_timeout_s: z.number().min(0.1).max(86_400),
  sync_timeout_s: z.number().min(0.1).max(86_400),
  crash_retry_max: z.number().int().min(0).max(10_000),
  crash_retry_delay_s: z.number().min(0).max(3600),
});
const ComfyUi = z.looseObject({ extra_args: z.array(z.string().max(4096)).max(256) });
const ConfigSchema = z.looseObject({ orchestrator: Orchestrator, comfyui: ComfyUi });

/** Where the file lives for a `.metadata/` folder. */
export function orchestratorConfigPath(metadataDir: string): string {
  return `${metadataDir}/${ORCHESTRATOR_CONFIG_FILE}`;
}

function fromMerged(merged: z.infer<typeof ConfigSchema>): OrchestratorConfig {
  const o = merged.orchestrator;
  return {
    controlPortRange: { from: o.control_port_range[0], to: o.control_port_range[1] },
    enableControlServer: o.enable_control_server,
    healthCheckTimeoutMs: Math.round(o.health_check_timeout_s * 1000),
    syncTimeoutMs: Math.round(o.sync_timeout_s * 1000),
    crashRetryMax: o.crash_retry_max,
    crashRetryDelayMs: Math.round(o.crash_retry_delay_s * 1000),
    extraArgs: [...merged.comfyui.extra_args],
  };
}

/** The defaults as marshal uses them. */
export function defaultOrchestratorConfig(): OrchestratorConfig {
  return fromMerged(ConfigSchema.parse(structuredClone(COMFYGIT_DEFAULT_CONFIG)));
}

/** ComfyGit's merge: each section of the file updates the default section key by key. */
function mergeOverDefaults(user: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = structuredClone(COMFYGIT_DEFAULT_CONFIG);
  for (const [section, value] of Object.entries(user)) {
    const base = merged[section];
    const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
    merged[section] =
      isObject(base) && isObject(value) ? { ...(base as object), ...(value as object) } : value;
  }
  return merged;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v = root;
  for (const key of path) v = (v as Record<PropertyKey, unknown> | undefined)?.[key];
  return v;
}

/** Parses the file's text; throws E_CONFIG naming the key and value; undefined when it is not JSON. */
export function parseOrchestratorConfig(text: string, path: string): OrchestratorConfig | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw configError(path, '(root)', raw, 'a JSON object');
  }
  const merged = mergeOverDefaults(raw as Record<string, unknown>);
  const parsed = ConfigSchema.safeParse(merged);
  if (parsed.success) return fromMerged(parsed.data);
  // The key is `section.name` (an element of control_port_range is reported as the whole range).
  const issue = parsed.error.issues[0];
  const keyPath = (issue?.path ?? []).slice(0, 2);
  const key = keyPath.map(String).join('.') || '(root)';
  throw configError(path, key, valueAt(merged, keyPath), issue?.message ?? 'a valid value');
}

function configError(path: string, key: string, value: unknown, expected: string): MarshalError {
  return new MarshalError(
    CORE_ERRORS.E_CONFIG,
    `${path}: ${key}: ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
    {
      details: { file: path, key, value },
      hint: `fix ${key} in ${path}, or delete the file to get ComfyGit's defaults back`,
    },
  );
}

/**
 * Loads `.metadata/orchestrator_config.json` (see the module comment). With `create`, a missing
 * file is written with ComfyGit's defaults (atomically). Throws E_CONFIG for an unusable value.
 */
export async function loadOrchestratorConfig(
  metadataDir: string,
  options: { create: boolean },
): Promise<LoadedOrchestratorConfig> {
  const path = orchestratorConfigPath(metadataDir);
  const read = await readCappedFile(path, { maxBytes: MAX_ORCHESTRATOR_CONFIG_BYTES, noFollow: true });
  if (read.kind === 'missing') {
    if (!options.create) return { config: defaultOrchestratorConfig(), path, origin: 'defaults' };
    try {
      await writeJsonAtomic(path, COMFYGIT_DEFAULT_CONFIG);
      return { config: defaultOrchestratorConfig(), path, origin: 'created' };
    } catch (err) {
      const warning = `cannot create ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); using ComfyGit's defaults`;
      return { config: defaultOrchestratorConfig(), path, origin: 'defaults', warning };
    }
  }
  if (read.kind !== 'ok') {
    const warning = `${path} not read (${describeCappedRead(read)}); using ComfyGit's defaults`;
    return { config: defaultOrchestratorConfig(), path, origin: 'defaults', warning };
  }
  const config = parseOrchestratorConfig(read.text, path);
  if (config === undefined) {
    return {
      config: defaultOrchestratorConfig(),
      path,
      origin: 'defaults',
      warning: `${path} is not valid JSON; using ComfyGit's defaults`,
    };
  }
  return { config, path, origin: 'file' };
}

/** Supervisor options that come from the file, for those the caller did not set itself. */
export function optionsFromOrchestratorConfig(
  config: OrchestratorConfig,
  given: {
    healthTimeoutMs?: number | undefined;
    maxRestarts?: number | undefined;
    backoffMs?: number | undefined;
    backoffCapMs?: number | undefined;
  },
): {
  healthTimeoutMs: number;
  maxRestarts: number;
  backoffMs?: number;
  backoffCapMs?: number;
  syncTimeoutMs: number;
} {
  return {
    healthTimeoutMs: given.healthTimeoutMs ?? config.healthCheckTimeoutMs,
    maxRestarts: given.maxRestarts ?? config.crashRetryMax,
    // ComfyGit waits crash_retry_delay_s between retries, always the same delay.
    ...(given.backoffMs === undefined
      ? { backoffMs: config.crashRetryDelayMs, backoffCapMs: given.backoffCapMs ?? config.crashRetryDelayMs }
      : {}),
    syncTimeoutMs: config.syncTimeoutMs,
  };
}
