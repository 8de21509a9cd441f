/**
 * Supervisor options with their defaults applied and validated (a bad number names the option).
 */
import { InvalidInputError } from '../core/errors.ts';
import type { MachineConfig } from './machine-types.ts';
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_READY_CONSECUTIVE } from './readiness.ts';
import type { SupervisorOptions } from './supervisor-types.ts';

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

/** Default option values (documented on {@link SupervisorOptions}). */
export const DEFAULTS = {
  healthIntervalMs: DEFAULT_HEALTH_INTERVAL_MS,
  healthTimeoutMs: 180_000,
  readyConsecutive: DEFAULT_READY_CONSECUTIVE,
  graceMs: 5000,
  maxRestarts: 5,
  backoffMs: 1000,
  backoffCapMs: 60_000,
  stableMs: 30_000,
  lockTtlMs: 300_000,
  portFreeTimeoutMs: 15_000,
  requestGraceMs: 3000,
  statusRetentionMs: 10_000,
  pollIntervalMs: 200,
} as const;

function num(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  integer = false,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    (integer && !Number.isInteger(value))
  ) {
    throw new InvalidInputError(name, value, `${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return value;
}

/** Applies defaults; throws E_INVALID_INPUT naming the option for a bad value. */
export function resolveSettings(o: SupervisorOptions): Settings {
  const backoffMs = num('backoffMs', o.backoffMs, DEFAULTS.backoffMs, 0);
  return {
    healthIntervalMs: num('healthIntervalMs', o.healthIntervalMs, DEFAULTS.healthIntervalMs, 1),
    healthTimeoutMs: num('healthTimeoutMs', o.healthTimeoutMs, DEFAULTS.healthTimeoutMs, 1),
    readyConsecutive: num('readyConsecutive', o.readyConsecutive, DEFAULTS.readyConsecutive, 1, true),
    graceMs: num('graceMs', o.graceMs, DEFAULTS.graceMs, 0),
    lockTtlMs: num('lockTtlMs', o.lockTtlMs, DEFAULTS.lockTtlMs, 1000),
    portFreeTimeoutMs: num('portFreeTimeoutMs', o.portFreeTimeoutMs, DEFAULTS.portFreeTimeoutMs, 0),
    statusRetentionMs: num('statusRetentionMs', o.statusRetentionMs, DEFAULTS.statusRetentionMs, 5000),
    pollIntervalMs: num('pollIntervalMs', o.pollIntervalMs, DEFAULTS.pollIntervalMs, 10),
    pdeathsig: o.pdeathsig ?? true,
    machine: {
      maxRestarts: num('maxRestarts', o.maxRestarts, DEFAULTS.maxRestarts, 0, true),
      backoffMs,
      backoffCapMs: num(
        'backoffCapMs',
        o.backoffCapMs,
        Math.max(DEFAULTS.backoffCapMs, backoffMs),
        backoffMs,
      ),
      stableMs: num('stableMs', o.stableMs, DEFAULTS.stableMs, 0),
      requestGraceMs: num('requestGraceMs', o.requestGraceMs, DEFAULTS.requestGraceMs, 0),
    },
  };
}
