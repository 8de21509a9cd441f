/**
 * Writes `.switch_status.json` for a `write_switch_status` effect: ComfyGit's shape with
 * `updated_at` now, a recovery command for critical_failure, and removal of a complete /
 * rolled_back / aborted status after the retention period (>= 5 s; only if nobody rewrote it).
 * failed and critical_failure stay until the next switch, for a human to read.
 */
import { unlink } from 'node:fs/promises';
import { quoteShellCommand, quoteShellWord } from '../core/shell-quote.ts';
import type { EnvironmentSpec } from './environment.ts';
import type { StatusEffect } from './machine-types.ts';
import {
  epochSeconds,
  metadataPaths,
  readSwitchStatus,
  SWITCH_PROGRESS,
  type SwitchStatus,
  writeSwitchStatus,
} from './protocol.ts';
import type { Settings } from './settings.ts';
import type { SupervisorEventRecord } from './supervisor-types.ts';
import type { Workspace } from './workspace.ts';

/** What the status writer needs from the runtime. */
export interface StatusHost {
  readonly ws: Workspace;
  readonly settings: Settings;
  publishSwitchStatus(status: SwitchStatus): void;
  retireSwitchStatus(status: SwitchStatus): void;
  emit(e: SupervisorEventRecord): void;
  later(ms: number, fn: () => void): void;
  serial<T>(op: () => Promise<T>): Promise<T>;
  loadSpec(env: string): Promise<EnvironmentSpec>;
}

const REMOVED_AFTER_RETENTION = new Set(['complete', 'rolled_back', 'aborted', 'recovering']);

async function recoveryCommand(host: StatusHost, env: string): Promise<string> {
  try {
    const spec = await host.loadSpec(env);
    return `cd ${quoteShellWord(spec.cwd)} && ${quoteShellCommand(spec.start)}`;
  } catch {
    return quoteShellCommand(['marshal', 'supervise', '--workspace', host.ws.root, '--env', env]);
  }
}

/** Writes the status of a write_switch_status effect and schedules its removal when due. */
export async function runStatusEffect(host: StatusHost, effect: StatusEffect): Promise<void> {
  const status: SwitchStatus = {
    state: effect.state,
    progress: SWITCH_PROGRESS[effect.state],
    message: effect.message,
    updated_at: epochSeconds(),
    target_env: effect.target,
    source_env: effect.source,
    error: effect.error,
  };
  if (effect.recover !== undefined) status.recovery_command = await recoveryCommand(host, effect.recover);
  await writeSwitchStatus(host.ws, status);
  host.publishSwitchStatus(status);
  host.emit({ type: 'switch_status', at: Date.now(), status });
  if (!REMOVED_AFTER_RETENTION.has(status.state)) return;
  host.later(host.settings.statusRetentionMs, () => {
    void host.serial(async () => {
      const current = await readSwitchStatus(host.ws);
      if (current && current.updated_at === status.updated_at && current.state === status.state) {
        await unlink(metadataPaths(host.ws.root).switchStatus).catch(() => undefined);
      }
      host.retireSwitchStatus(status);
    });
  });
}
