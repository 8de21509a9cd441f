/**
 * One tool-less chat call outside an agent loop (decompose, combine), with its llm_request /
 * llm_response events and usage metering.
 */
import { deltaEmitter, type EventSink, emitEvent, type LlmScope, replyRecord } from './events.ts';
import {
  addUsage,
  type ChatModel,
  type ChatRequest,
  type ChatResponse,
  type Usage,
  ZERO_USAGE,
} from './model.ts';

/** Accumulates the usage of every call of a phase, including calls of a step that later fails. */
export class UsageMeter {
  total: Usage = ZERO_USAGE;
  add(u: Usage): void {
    this.total = addUsage(this.total, u);
  }
}

export interface ChatOnceOptions {
  scope: LlmScope;
  meter: UsageMeter;
  onEvent?: EventSink | undefined;
  /** This call's text is the run's final answer: its streamed pieces say so (`llm_delta.answer`). */
  answer?: boolean | undefined;
}

/** Calls `model.chat`, emitting events and adding the usage to `meter`. Errors propagate. */
export async function chatOnce(
  model: ChatModel,
  request: ChatRequest,
  options: ChatOnceOptions,
): Promise<ChatResponse> {
  const { scope, meter, onEvent } = options;
  emitEvent(onEvent, { type: 'llm_request', scope, model: request.model, messages: request.messages });
  const started = performance.now();
  const onDelta = deltaEmitter(onEvent, scope, options.answer === true);
  const response = await model.chat({
    ...request,
    ...(onDelta ? { onDelta } : {}),
    onRetry: (info) => emitEvent(onEvent, { type: 'llm_retry', scope, ...info }),
  });
  meter.add(response.usage);
  emitEvent(onEvent, {
    type: 'llm_response',
    scope,
    usage: response.usage,
    finishReason: response.finishReason,
    durationMs: Math.round(performance.now() - started),
    reply: replyRecord(response),
  });
  return response;
}
