/** Classifying why an agent stopped: a timeout, a cancellation, or a failure with a code. */
import { MarshalError } from '../core/errors.ts';
import type { AgentOutcome, AgentStatus } from './agent-outcome.ts';

/** True when an abort reason means "ran out of time" (platform TimeoutError or MarshalError E_TIMEOUT, also as a cause). */
export function isTimeoutReason(reason: unknown, depth = 0): boolean {
  if (reason instanceof MarshalError && reason.code === 'E_TIMEOUT') return true;
  if (reason instanceof Error && reason.name === 'TimeoutError' && !(reason instanceof MarshalError))
    return true;
  if (depth < 3 && reason instanceof Error && reason.cause !== undefined)
    return isTimeoutReason(reason.cause, depth + 1);
  return false;
}

/** Status and error for an aborted signal. */
export function abortStatus(signal: AbortSignal): {
  status: AgentStatus;
  error: NonNullable<AgentOutcome['error']>;
} {
  const reason: unknown = signal.reason;
  if (isTimeoutReason(reason)) {
    const message = reason instanceof Error && reason.message ? reason.message : 'timed out';
    return { status: 'timeout', error: { code: 'E_TIMEOUT', message } };
  }
  const message = reason instanceof Error && reason.message ? reason.message : 'cancelled';
  return { status: 'cancelled', error: { code: 'E_ABORTED', message } };
}

/** Code and message of a thrown value, for an outcome's `error`. */
export function errorInfo(error: unknown): { code: string; message: string } {
  if (error instanceof MarshalError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: 'E_INTERNAL', message: error.message };
  return { code: 'E_INTERNAL', message: String(error) };
}
