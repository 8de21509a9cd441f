/**
 * The training audit log: one JSON line per phase decision (`audit.jsonl` next to the plan),
 * through the core JSONL logger (timestamps, control characters neutralised, secrets redacted,
 * size-based rotation).
 */
import { dirname, join } from 'node:path';
import { createJsonlLogger } from '../core/jsonl-logger.ts';

export interface AuditRecord {
  /** The phase: calibrate, pre_rdma_sync, worker_consistency, pre_flight, plan, check, launch, ... */
  phase: string;
  /** What was decided: pass, warn, fail, skipped, written, refused, started, finished, ... */
  decision: string;
  [key: string]: unknown;
}

export interface Audit {
  log(record: AuditRecord): void;
  close(): Promise<void>;
}

/** The audit log path for a plan file. */
export function auditPathFor(planPath: string): string {
  return join(dirname(planPath), 'audit.jsonl');
}

/** Opens the audit log next to `planPath`. `known` are secret values to redact. */
export function openAudit(planPath: string, known: readonly string[] = []): Audit {
  const logger = createJsonlLogger(auditPathFor(planPath), { known: [...known] });
  return {
    log: (record) => logger.log(record),
    close: async () => logger.close(),
  };
}
