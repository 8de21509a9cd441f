/** One sanitised line per event, for stderr when it is not a terminal. */
import type { HeavyEvent } from '../../agents/index.ts';
import { assertNever, redactSecrets, sanitizeForLog } from '../../core/index.ts';

function clip(text: string, max = 160): string {
  const clean = sanitizeForLog(redactSecrets(text));
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The line for `e` (without newline), or undefined for events not worth a line (llm_request bodies). */
export function formatEventLine(e: HeavyEvent): string | undefined {
  switch (e.type) {
    case 'run_start':
      return `heavy: ${e.agents} agent(s), model ${clip(e.model)}, strategy ${e.strategy}`;
    case 'decompose_start':
      return 'decompose: splitting the question';
    case 'decompose_done':
      return `decompose: ${e.subQuestions.length} sub-question(s)${e.fallback ? ` (fallback angles: ${clip(e.reason ?? 'unknown')})` : ''}`;
    case 'agent_start':
      return `${e.agentId}: start: ${clip(e.question)}`;
    case 'agent_step':
      return `${e.agentId}: step ${e.iteration}`;
    case 'llm_request':
    case 'llm_delta':
      return undefined;
    case 'llm_response':
      return `${e.scope}: llm reply ${e.usage.promptTokens}+${e.usage.completionTokens} tokens in ${e.durationMs} ms`;
    case 'llm_retry':
      return `${e.scope}: retry ${e.attempt + 1} in ${e.delayMs} ms${e.status ? ` (HTTP ${e.status})` : ''}: ${clip(e.message)}`;
    case 'tool_call':
      return `${e.agentId}: tool ${clip(e.name, 64)} ${clip(e.arguments, 100)}`;
    case 'tool_result':
      return `${e.agentId}: tool ${clip(e.name, 64)} ${e.ok ? 'ok' : `failed: ${clip(e.error ?? '')}`} (${e.durationMs} ms)`;
    case 'agent_done':
      return `${e.agentId}: ${e.outcome.status}${e.outcome.error ? `: ${clip(e.outcome.error.message)}` : ''} (${e.outcome.durationMs} ms)`;
    case 'budget_reached':
      return `budget: ${e.budget} ${e.limit} reached (${e.used} used); stopping the agents`;
    case 'combine_start':
      return `combine: ${e.strategy}`;
    case 'combine_done':
      return `combine: done${e.fallback ? ' (fell back to concatenating the answers)' : ''}${e.note ? `: ${clip(e.note)}` : ''}`;
    case 'run_done':
      return `heavy: done in ${e.durationMs} ms, ${e.usage.promptTokens}+${e.usage.completionTokens} tokens${e.usage.costUsd === null ? '' : `, $${e.usage.costUsd.toFixed(4)}`}`;
    default:
      return assertNever(e, 'heavy event');
  }
}
