/** What one agent produced: data, never an exception. */
import type { Usage } from './model.ts';

/** How an agent's run ended. */
export type AgentStatus = 'ok' | 'failed' | 'timeout' | 'cancelled' | 'max_iterations';

/** The result of `runAgent` (run-agent.ts). */
export interface AgentOutcome {
  id: string;
  /** The sub-question this agent worked on. */
  question: string;
  status: AgentStatus;
  /** The final answer; for non-ok statuses, the last non-empty assistant text (partial) or null. */
  answer: string | null;
  toolCalls: Array<{ name: string; ok: boolean }>;
  /** Summed over every chat call the agent made. */
  usage: Usage;
  durationMs: number;
  /**
   * Null for 'ok'. Otherwise why it stopped: the provider's code for 'failed' (E_LLM_HTTP,
   * E_LLM_NETWORK, E_LLM_RESPONSE, E_LLM_EMPTY, ...), E_TIMEOUT, E_ABORTED, or E_MAX_ITERATIONS.
   */
  error: { code: string; message: string } | null;
}
