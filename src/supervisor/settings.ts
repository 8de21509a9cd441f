/**
 * The supervisor's settings, written once: each one's default, bounds, unit and help text. Option
 * validation (`resolveSettings`), the CLI's flags and help (`supervise --help`) and the arguments
 * forwarded to a detached supervisor all derive from {@link SETTINGS}.
 */
import { InvalidInputError } from '../core/errors.ts';
import type { MachineConfig } from './machine-types.ts';
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_READY_CONSECUTIVE } from './readiness.ts';
import type { SupervisorOptions } from './supervisor-types.ts';

/** One setting: a duration in ms or a count. `flag` (when set) is its command-line name. */
export interface SettingSpec {
  default: number;
  min: number;
  max: number;
  kind: 'ms' | 'count';
  help: string;
  flag?: string;
}

const HOUR_MS = 3_600_000;

/** Every numeric supervisor setting (see the module comment). */
export const SETTINGS = {
  healthIntervalMs: {
    default: DEFAULT_HEALTH_INTERVAL_MS,
    min: 10,
    max: HOUR_MS,
    kind: 'ms',
    help: 'readiness probe interval',
    flag: 'health-interval',
  },
  healthTimeoutMs: {
    default: 180_000,
    min: 100,
    max: 24 * HOUR_MS,
    kind: 'ms',
    help: 'readiness bound per start',
    flag: 'health-timeout',
  },
  readyConsecutive: {
    default: DEFAULT_READY_CONSECUTIVE,
    min: 1,
    max: 1000,
    kind: 'count',
    help: 'consecutive successful probes that make a start ready',
  },
  graceMs: {
    default: 5000,
    min: 0,
    max: HOUR_MS,
    kind: 'ms',
    help: 'SIGTERM -> SIGKILL grace when stopping the server',
    flag: 'grace',
  },
  maxRestarts: {
    default: 5,
    min: 0,
    max: 10_000,
    kind: 'count',
    help: 'restarts after crashes in a row before crash_loop',
    flag: 'max-restarts',
  },
  backoffMs: {
    default: 1000,
    min: 0,
    max: HOUR_MS,
    kind: 'ms',
    help: 'first crash backoff (doubles per crash, up to the backoff cap)',
    flag: 'backoff',
  },
  backoffCapMs: { default: 60_000, min: 0, max: 24 * HOUR_MS, kind: 'ms', help: 'crash backoff cap' },
  stableMs: {
    default: 30_000,
    min: 0,
    max: 24 * HOUR_MS,
    kind: 'ms',
    help: 'healthy this long resets the crash counter',
  },
  lockTtlMs: { default: 300_000, min: 1000, max: 24 * HOUR_MS, kind: 'ms', help: 'switch lock staleness' },
  portFreeTimeoutMs: {
    default: 15_000,
    min: 0,
    max: HOUR_MS,
    kind: 'ms',
    help: 'bound on waiting for the port to be released before a start',
  },
  requestGraceMs: {
    default: 3000,
    min: 0,
    max: HOUR_MS,
    kind: 'ms',
    help: 'time a child gets to exit 43 by itself after its request file appears',
  },
  statusRetentionMs: {
    default: 10_000,
    min: 5000,
    max: 24 * HOUR_MS,
    kind: 'ms',
    help: 'how long a complete/rolled_back/aborted status stays',
  },
  pollIntervalMs: {
    default: 200,
    min: 10,
    max: 60_000,
    kind: 'ms',
    help: 'poll interval of .cmd and .switch_request.json',
  },
} as const satisfies Record<string, SettingSpec>;

/** A numeric setting's name. */
export type SettingName = keyof typeof SETTINGS;

/** Options after defaults. */
export interface Settings {
  healthIntervalMs: number;
  healthTimeoutMs: number;
  readyConsecutive: number;
  graceMs: number;
  lockTtlMs: number;
  portFreeTimeoutMs: number;
  statusRetentionMs: number;
  pollIntervalMs: number;
  pdeathsig: boolean;
  machine: MachineConfig;
}

/** Default option values, derived from {@link SETTINGS}. */
export const DEFAULTS = Object.fromEntries(
  Object.entries(SETTINGS).map(([name, spec]) => [name, spec.default]),
) as { readonly [K in SettingName]: (typeof SETTINGS)[K]['default'] };

/** Checks one setting against its bounds; throws E_INVALID_INPUT naming the option. */
export function checkSetting(name: SettingName, value: unknown, min?: number): number {
  if (!Object.hasOwn(SETTINGS, name)) throw new InvalidInputError('setting', name, 'a known setting name');
  const spec: SettingSpec = SETTINGS[name];
  min ??= spec.min;
  const integer = spec.kind === 'count';
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > spec.max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new InvalidInputError(
      name,
      value,
      `${integer ? 'an integer' : 'a number of ms'} from ${min} to ${spec.max}`,
    );
  }
  return value;
}

function pick(o: SupervisorOptions, name: SettingName, fallback?: number, min?: number): number {
  const value = o[name];
  return value === undefined ? (fallback ?? SETTINGS[name].default) : checkSetting(name, value, min);
}

/** Applies defaults; throws E_INVALID_INPUT naming the option for a bad value. */
export function resolveSettings(o: SupervisorOptions): Settings {
  const backoffMs = pick(o, 'backoffMs');
  return {
    healthIntervalMs: pick(o, 'healthIntervalMs'),
    healthTimeoutMs: pick(o, 'healthTimeoutMs'),
    readyConsecutive: pick(o, 'readyConsecutive'),
    graceMs: pick(o, 'graceMs'),
    lockTtlMs: pick(o, 'lockTtlMs'),
    portFreeTimeoutMs: pick(o, 'portFreeTimeoutMs'),
    statusRetentionMs: pick(o, 'statusRetentionMs'),
    pollIntervalMs: pick(o, 'pollIntervalMs'),
    pdeathsig: o.pdeathsig ?? true,
    machine: {
      maxRestarts: pick(o, 'maxRestarts'),
      backoffMs,
      // The cap is never below the first backoff.
      backoffCapMs: pick(o, 'backoffCapMs', Math.max(SETTINGS.backoffCapMs.default, backoffMs), backoffMs),
      stableMs: pick(o, 'stableMs'),
      requestGraceMs: pick(o, 'requestGraceMs'),
    },
  };
}

/** The settings that have a command-line flag, in table order. */
export function flaggedSettings(): Array<{ name: SettingName; spec: SettingSpec & { flag: string } }> {
  return (Object.entries(SETTINGS) as Array<[SettingName, SettingSpec]>).flatMap(([name, spec]) =>
    spec.flag === undefined ? [] : [{ name, spec: spec as SettingSpec & { flag: string } }],
  );
}

/** Command-line arguments (`--health-timeout=2.5`, seconds for durations) for the given settings. */
export function settingsArgs(values: Partial<Record<SettingName, number>>): string[] {
  return flaggedSettings().flatMap(({ name, spec }) => {
    const v = values[name];
    if (v === undefined) return [];
    return [`--${spec.flag}=${spec.kind === 'ms' ? v / 1000 : v}`];
  });
}
