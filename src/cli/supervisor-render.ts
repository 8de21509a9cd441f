/**
 * Human rendering of supervisor events: the state lines `marshal supervise` prints on stderr and
 * the lines `marshal logs` shows for `supervisor-switch.log` (ComfyGit-style JSONL records
 * `{timestamp, level, message, ...}`). The message text is the engine's own (`describeEvent`), so
 * the terminal and the log say the same thing. Every value is sanitised: log content comes from
 * child processes and must not drive the terminal (CWE-117).
 */
import { redactSecrets, sanitizeForLog } from '../core/index.ts';
import { describeEvent, type SupervisorEventRecord } from '../supervisor/index.ts';
import type { Styler } from './io.ts';

type Rec = Record<string, unknown>;

/** `HH:MM:SS.mmm` (local time) of a record's `timestamp` / `ts` / `at`, or '' when it has none. */
export function recordTime(rec: Rec): string {
  const raw = rec.timestamp ?? rec.ts ?? rec.at;
  const ms =
    typeof raw === 'number'
      ? raw < 1e11
        ? raw * 1000
        : raw
      : typeof raw === 'string'
        ? Date.parse(raw)
        : Number.NaN;
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function line(time: string, level: string, message: string, type: unknown, s: Styler): string {
  const colour =
    level === 'error'
      ? s.red
      : level === 'warning'
        ? s.yellow
        : type === 'child_output'
          ? s.dim
          : (x: string) => x;
  const tag = level === 'info' || level === '' ? '' : `${level} `;
  return `${time ? `${s.dim(time)} ` : ''}${colour(`${tag}${redactSecrets(sanitizeForLog(message))}`)}`;
}

/** One supervisor event as a human line (for `marshal supervise`). */
export function renderEvent(e: SupervisorEventRecord, s: Styler): string {
  const { level, message } = describeEvent(e);
  return line(recordTime(e as unknown as Rec), level, message, e.type, s);
}

/** One log line (JSONL record or plain text) as a human line. */
export function renderLogLine(text: string, s: Styler): string {
  let rec: Rec | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) rec = parsed as Rec;
  } catch {
    // A plain text line.
  }
  if (!rec) return redactSecrets(sanitizeForLog(text));
  const level = typeof rec.level === 'string' ? rec.level : '';
  let message: string;
  if (typeof rec.message === 'string') message = rec.message;
  else {
    const { timestamp: _t, ts: _ts, at: _at, level: _l, ...rest } = rec;
    message = JSON.stringify(rest);
  }
  return line(recordTime(rec), level, message, rec.type, s);
}
