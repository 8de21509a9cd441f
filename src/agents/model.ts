/**
 * The chat-model port: the one seam between the agents subsystem and LLM providers. The
 * OpenAI-compatible HTTP provider and the in-memory scripted model (marshal-kit/testing) implement it.
 */

/** A tool call as the model requested it (OpenAI function-calling format). */
export interface ToolCall {
  id: string;
  name: string;
  /** Raw JSON text of the arguments, exactly as the model sent it (it may be invalid JSON). */
  arguments: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | {
      role: 'assistant';
      content: string | null;
      toolCalls?: ToolCall[];
      /** OpenRouter's `reasoning_details`, sent back verbatim on tool turns (reasoning models need them). */
      reasoningDetails?: unknown[];
    }
  | { role: 'tool'; toolCallId: string; name: string; content: string };

/** A tool offered to the model: name, description, JSON Schema of its parameters. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** USD, when the endpoint reports it (OpenRouter puts `cost` in `usage`); null when unknown. */
  costUsd: number | null;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools?: ToolSpec[];
  temperature?: number;
  maxTokens?: number;
  /** Reasoning effort of reasoning models; how it is sent depends on the endpoint (see the provider). */
  reasoningEffort?: ReasoningEffort;
  /** Ask for a JSON object matching this schema (response_format json_schema) where supported. */
  responseSchema?: { name: string; schema: Record<string, unknown> };
  /** Cancels the request for real (passed to fetch). */
  signal?: AbortSignal;
  /** Called before each retry wait (429, 5xx, connection error), so callers can report it with their scope. */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Called with each piece of a streamed reply as it arrives (providers that stream; others
   * never call it). The assembled reply is still what `chat` resolves to.
   */
  onDelta?: (delta: ChatDelta) => void;
}

/** One piece of a streamed reply: new text, new reasoning, or a piece of tool call `toolCallIndex`. */
export interface ChatDelta {
  content?: string;
  reasoning?: string;
  toolCallIndex?: number;
}

/** One retry of a chat request, as providers report it. Never carries the API key. */
export interface RetryInfo {
  /** 0-based attempt that failed. */
  attempt: number;
  delayMs: number;
  status?: number;
  message: string;
}

/** `--reasoning-effort`. */
export type ReasoningEffort = 'low' | 'medium' | 'high';

export interface ChatResponse {
  /**
   * The assistant text, without inline `<think>...</think>` blocks; null when the model answered
   * with tool calls only (or only reasoned).
   */
  content: string | null;
  /** The model's reasoning (`reasoning`, `reasoning_content` or stripped `<think>` text); never an answer. */
  reasoning?: string;
  /** OpenRouter's structured `reasoning_details`, to send back with the assistant message. */
  reasoningDetails?: unknown[];
  toolCalls: ToolCall[];
  finishReason: string | null;
  usage: Usage;
  /** The model id the endpoint says it used. */
  model?: string;
}

/** The port. Implementations must honour `signal` and throw a MarshalError with a stable code on failure. */
export interface ChatModel {
  /** Provider label for displays and traces, e.g. "openai-compatible http://127.0.0.1:8080/v1". */
  readonly label: string;
  chat(request: ChatRequest): Promise<ChatResponse>;
}

export const ZERO_USAGE: Usage = Object.freeze({ promptTokens: 0, completionTokens: 0, costUsd: null });

/** Costs are added in integer units of this many USD (nano-dollars, finer than providers report). */
export const COST_UNIT_USD = 1e-9;

/** `a + b` in integer nano-dollars, so totals never show float noise (0.011193, not 0.011193000000000002). */
export function addCost(a: number, b: number): number {
  return (Math.round(a / COST_UNIT_USD) + Math.round(b / COST_UNIT_USD)) / 1e9;
}

/** Adds two usages; cost stays null only when both are null, and is summed by {@link addCost}. */
export function addUsage(a: Usage, b: Usage): Usage {
  return {
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    costUsd: a.costUsd === null && b.costUsd === null ? null : addCost(a.costUsd ?? 0, b.costUsd ?? 0),
  };
}
