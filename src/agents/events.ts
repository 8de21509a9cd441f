/**
 * The agents subsystem's event union: one `onEvent` sink feeds the live terminal view, the JSONL
 * trace and tests alike. Every event carries `at` (ms since epoch), set by the emitter.
 */
import type { AgentOutcome } from './agent-outcome.ts';
import type { ChatMessage, Usage } from './model.ts';

/** Who made an LLM call: the decomposer, the combiner, or agent n (`agent-1`, `agent-2`, ...). */
export type LlmScope = 'decompose' | 'combine' | `agent-${number}` | (string & {});

type At = { at: number };

/** Every event of a heavy run, discriminated on `type`. */
export type HeavyEvent =
  | ({ type: 'run_start'; question: string; model: string; agents: number; strategy: string } & At)
  | ({ type: 'decompose_start' } & At)
  | ({ type: 'decompose_done'; subQuestions: string[]; fallback: boolean; reason?: string } & At)
  | ({ type: 'agent_start'; agentId: string; question: string } & At)
  | ({ type: 'agent_step'; agentId: string; iteration: number } & At)
  | ({ type: 'llm_request'; scope: LlmScope; model: string; messages: ChatMessage[] } & At)
  | ({
      type: 'llm_response';
      scope: LlmScope;
      usage: Usage;
      finishReason: string | null;
      durationMs: number;
    } & At)
  | ({
      type: 'llm_retry';
      scope: LlmScope;
      attempt: number;
      delayMs: number;
      status?: number;
      message: string;
    } & At)
  | ({ type: 'tool_call'; agentId: string; name: string; arguments: string } & At)
  | ({
      type: 'tool_result';
      agentId: string;
      name: string;
      ok: boolean;
      error?: string;
      durationMs: number;
    } & At)
  | ({ type: 'agent_done'; agentId: string; outcome: AgentOutcome } & At)
  | ({ type: 'combine_start'; strategy: string } & At)
  | ({ type: 'combine_done'; strategy: string; fallback?: boolean; note?: string } & At)
  | ({ type: 'run_done'; durationMs: number; usage: Usage } & At);

/** The discriminant values of {@link HeavyEvent}. */
export type HeavyEventType = HeavyEvent['type'];

/** Receives events. Must not throw (emitters guard against it anyway). */
export type EventSink = (e: HeavyEvent) => void;

/** Distributive Omit, so `at` can be left to the emitter while keeping the union narrowable. */
export type HeavyEventInput = HeavyEvent extends infer E
  ? E extends HeavyEvent
    ? Omit<E, 'at'>
    : never
  : never;

/**
 * Stamps `at` and delivers `event` to `sink`; a throwing sink is ignored so a broken display can
 * never take an agent down.
 */
export function emitEvent(
  sink: EventSink | undefined,
  event: HeavyEventInput,
  now: () => number = Date.now,
): void {
  if (!sink) return;
  try {
    sink({ ...event, at: now() } as HeavyEvent);
  } catch {
    // A sink's failure is the sink's problem; the run goes on.
  }
}
