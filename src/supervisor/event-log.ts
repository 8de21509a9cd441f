/**
 * Renders supervisor events as ComfyGit-style JSONL log lines (`{timestamp, level, message}`, plus
 * the event's own fields) for `.metadata/supervisor-switch.log`. The core JSONL logger neutralises
 * control characters, redacts known secrets and rotates by size.
 */
import { assertNever } from '../core/errors.ts';
import { createJsonlLogger } from '../core/jsonl-logger.ts';
import { redactSecrets, sanitizeForLog } from '../core/log-hygiene.ts';
import type { SupervisorEventRecord } from './supervisor-types.ts';

/** Level of a log line (ComfyGit's names). */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/**
 * A line of child (or sync) output as the supervisor keeps it: control characters neutralised and
 * secrets redacted (CWE-117, CWE-532), before any log, terminal or listener sees it. Pure.
 */
export function cleanOutputLine(line: string): string {
  return redactSecrets(sanitizeForLog(line));
}

/**
 * One-line human message and level of an event, secrets redacted and control characters
 * neutralised: the same text for the JSONL log, `marshal supervise`'s stderr and
 * `.metadata/orchestrator.log` (a detached supervisor's stderr). Pure.
 */
export function describeEvent(e: SupervisorEventRecord): { level: LogLevel; message: string } {
  const { level, message } = describeRaw(e);
  return { level, message: cleanOutputLine(message) };
}

function describeRaw(e: SupervisorEventRecord): { level: LogLevel; message: string } {
  switch (e.type) {
    case 'started':
      return { level: 'info', message: `supervisor ${e.pid} started for ${e.environment} in ${e.workspace}` };
    case 'state':
      return {
        level: 'info',
        message: `state ${e.from} -> ${e.to} (${e.phase}, ${e.environment}) on ${e.cause}`,
      };
    case 'child_started':
      return { level: 'info', message: `started ${e.environment} as pid ${e.pid}: ${e.argv.join(' ')}` };
    case 'child_exited': {
      const how = e.error
        ? `failed to start: ${e.error}`
        : e.signal
          ? `killed by ${e.signal}`
          : `exited with code ${e.code}`;
      return {
        level: e.code === 0 || e.code === 42 || e.code === 43 ? 'info' : 'warning',
        message: `${e.environment} (pid ${e.pid ?? '-'}) ${how}`,
      };
    }
    case 'child_output':
      return { level: 'info', message: e.line };
    case 'readiness':
      return e.ok
        ? { level: 'info', message: `${e.environment} is ready (${e.attempts} probes)` }
        : { level: 'warning', message: `${e.environment} not ready: ${e.reason ?? 'unknown'}` };
    case 'sync':
      return { level: e.ok ? 'info' : 'error', message: `sync ${e.environment}: ${e.message}` };
    case 'switch_status':
      return {
        level: e.status.state === 'critical_failure' || e.status.state === 'failed' ? 'error' : 'info',
        message: `[${e.status.state} ${e.status.progress}%] ${e.status.message}${e.status.error ? ` (${e.status.error})` : ''}`,
      };
    case 'command':
      return {
        level: e.accepted ? 'info' : 'warning',
        message: `command ${e.command} (${e.source}) ${e.accepted ? 'accepted' : 'ignored'}${e.detail ? `: ${e.detail}` : ''}`,
      };
    case 'switch_refused':
      return { level: 'warning', message: `switch to ${e.target} refused: ${e.reason}` };
    case 'protocol_issue':
      return { level: 'warning', message: `${e.file}: ${e.problem}` };
    case 'reaped':
      return { level: 'warning', message: `killed process group ${e.pgid} (pid ${e.pid}): ${e.reason}` };
    case 'warning':
      return { level: 'warning', message: e.message };
    case 'finished':
      return {
        level: e.exitCode === 0 ? 'info' : 'error',
        message: `supervision ended (${e.state}, exit ${e.exitCode}): ${e.reason}`,
      };
    default:
      return assertNever(e, 'supervisor event');
  }
}

/** The supervisor's JSONL log. */
export interface SupervisorLog {
  write(e: SupervisorEventRecord): void;
  close(): Promise<void>;
}

/** Opens the rotating JSONL log at `path`. */
export function openSupervisorLog(
  path: string,
  options: { maxBytes?: number; maxFiles?: number } = {},
): SupervisorLog {
  // .metadata/ is shared with other programs: never append through a symlink planted there.
  const logger = createJsonlLogger(path, { ...options, noFollow: true });
  return {
    write(e) {
      const { level, message } = describeEvent(e);
      const { at, ...rest } = e;
      logger.log({ timestamp: new Date(at).toISOString(), level, message, ...rest });
    },
    async close() {
      await logger.close();
    },
  };
}
