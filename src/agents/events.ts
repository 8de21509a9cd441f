/**
 * The agents subsystem's event union: one `onEvent` sink feeds the live terminal view, the JSONL
 * trace and tests alike. Every event carries `at` (ms since epoch), set by the emitter.
 */
import type { AgentOutcome } from './agent-outcome.ts';
import type { ChatMessage, ChatResponse, ToolCall, Usage } from './model.ts';

/** What a reply said, for the trace: text, reasoning and tool calls (never usage, which has its field). */
export interface ReplyRecord {
  content: string | null;
  reasoning?: string;
  toolCalls: ToolCall[];
}

/** The {@link ReplyRecord} of a response. */
export function replyRecord(response: ChatResponse): ReplyRecord {
  return {
    content: response.content,
    ...(response.reasoning === undefined ? {} : { reasoning: response.reasoning }),
    toolCalls: response.toolCalls,
  };
}

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
      /** What the reply said (the trace records it). */
      reply?: ReplyRecord;
    } & At)
  | ({
      /**
       * A piece of a streamed reply (providers that stream). `answer` marks the call whose text
       * is the run's final answer as it is produced (the synthesize call of the combine step);
       * `chunks` counts this call's pieces so far (about one token each: progress, not usage).
       */
      type: 'llm_delta';
      scope: LlmScope;
      content?: string;
      reasoning?: string;
      chunks: number;
      answer?: boolean;
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
      /** What went back to the model (the trace records it). */
      content?: string;
    } & At)
  | ({ type: 'agent_done'; agentId: string; outcome: AgentOutcome } & At)
  | ({ type: 'budget_reached'; budget: 'maxCost' | 'maxTokensTotal'; limit: number; used: number } & At)
  | ({
      type: 'combine_start';
      strategy: string;
      /** The combine input (combine/ AgentAnswer; spelt out here to keep events.ts free of cycles). */
      answers?: Array<{ id: string; question: string; answer: string; partial?: string | undefined }>;
    } & At)
  | ({ type: 'combine_done'; strategy: string; fallback?: boolean; note?: string } & At)
  | ({
      type: 'run_done';
      durationMs: number;
      usage: Usage;
      answer?: string | null;
      partial?: boolean;
    } & At);

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

/**
 * An `onDelta` for a chat request that emits `llm_delta` events for `scope` (undefined without a
 * sink, so nothing is streamed for nobody).
 */
export function deltaEmitter(
  sink: EventSink | undefined,
  scope: LlmScope,
  answer = false,
): ((delta: { content?: string; reasoning?: string }) => void) | undefined {
  if (!sink) return undefined;
  let chunks = 0;
  return (delta) => {
    chunks++;
    emitEvent(sink, {
      type: 'llm_delta',
      scope,
      chunks,
      ...(delta.content === undefined ? {} : { content: delta.content }),
      ...(delta.reasoning === undefined ? {} : { reasoning: delta.reasoning }),
      ...(answer ? { answer: true } : {}),
    });
  };
}
