/** What one agent produced: data, never an exception. */
import { assertNever } from '../core/errors.ts';
import type { Usage } from './model.ts';

/** How an agent's run ended. */
/**
 * How an agent's run ended. `truncated`: the reply hit the token limit, the partial text is the
 * answer (never a silent `ok`).
 */
export type AgentStatus = 'ok' | 'truncated' | 'failed' | 'timeout' | 'cancelled' | 'max_iterations';

/** The result of `runAgent` (run-agent.ts). */
export interface AgentOutcome {
  id: string;
  /** The sub-question this agent worked on. */
  question: string;
  status: AgentStatus;
  /**
   * The final answer; for other statuses the last non-empty assistant text (partial: a timed-out
   * agent's last words, the text before the token limit) or null.
   */
  answer: string | null;
  toolCalls: Array<{ name: string; ok: boolean }>;
  /** Summed over every chat call the agent made. */
  usage: Usage;
  durationMs: number;
  /**
   * Null for 'ok'. Otherwise why it stopped: the provider's code for 'failed' (E_LLM_HTTP,
   * E_LLM_NETWORK, E_LLM_RESPONSE, E_LLM_EMPTY, E_LLM_CONTENT_FILTER, ...), E_LLM_TRUNCATED,
   * E_TIMEOUT, E_ABORTED, or E_MAX_ITERATIONS.
   */
  error: { code: string; message: string } | null;
}

/**
 * What an outcome's text is worth: `answer` (ok), `partial` (truncated at the token limit; or the
 * last words of an agent that timed out, was cancelled, used its iterations or failed), used by
 * the combine step and the displays.
 */
export function answerKind(status: AgentStatus): 'answer' | 'partial' {
  switch (status) {
    case 'ok':
      return 'answer';
    case 'truncated':
    case 'failed':
    case 'timeout':
    case 'cancelled':
    case 'max_iterations':
      return 'partial';
    default:
      return assertNever(status, 'agent status');
  }
}
