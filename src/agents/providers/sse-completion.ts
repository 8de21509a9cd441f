/**
 * Assembling a streamed chat completion (`stream: true`) from its `chat.completion.chunk`s: text
 * and reasoning deltas are joined, tool calls are assembled by `index` (id, type and name arrive
 * in the first delta of a call, the arguments in pieces; a delta without an index that carries a
 * new id starts a new call), the last `finish_reason` wins, and `usage` comes from whichever
 * chunk carried it (the final `choices: []` chunk of `stream_options.include_usage`, or every
 * chunk on servers that repeat it). An `error` object in a chunk (OpenRouter's mid-stream
 * failure) is reported to the caller. The result goes through the same validation as a
 * non-streamed completion ({@link parseCompletion}). Pure.
 */
import type { ChatDelta, ChatResponse } from '../model.ts';
import { parseCompletion } from './wire-format.ts';

interface ToolCallParts {
  id?: string;
  name: string;
  arguments: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Text of a delta's `content`: a string, or an array of text parts. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((p) => (isObj(p) && typeof p.text === 'string' ? p.text : '')).join('');
  return '';
}

export interface StreamAssembler {
  /**
   * Adds one parsed chunk; returns the delta worth telling the caller about (undefined when the
   * chunk carried none), or `{error}` when the chunk is an error object.
   */
  add(chunk: unknown): { delta?: ChatDelta; error?: Obj };
  /** How many chunks carried content, reasoning or tool-call pieces. */
  readonly deltas: number;
  /** The assembled response (validated like a non-streamed completion; throws E_LLM_RESPONSE). */
  finish(endpoint: string): ChatResponse;
}

/** Creates an assembler for one streamed reply. */
export function createStreamAssembler(): StreamAssembler {
  let content = '';
  let sawContent = false;
  let reasoning = '';
  let reasoningContent = '';
  const reasoningDetails: unknown[] = [];
  const calls: ToolCallParts[] = [];
  let finishReason: string | null = null;
  let usage: unknown;
  let model: string | undefined;
  let deltas = 0;
  let sawChoice = false;

  const toolCallDelta = (raw: unknown): number | undefined => {
    if (!isObj(raw)) return undefined;
    const fn = isObj(raw.function) ? raw.function : {};
    const id = str(raw.id) || undefined;
    let index = typeof raw.index === 'number' && Number.isInteger(raw.index) ? raw.index : undefined;
    if (index === undefined) {
      // No index (some gateways send each call whole): a new id starts a new call.
      const last = calls.length - 1;
      index = last >= 0 && (id === undefined || calls[last]!.id === id) ? last : calls.length;
    }
    if (index < 0 || index > 1024) return undefined;
    calls[index] ??= { name: '', arguments: '' };
    const call = calls[index]!;
    if (id !== undefined && call.id === undefined) call.id = id;
    const name = str(fn.name);
    // Names arrive whole in the first delta; a server repeating it must not double it.
    if (name !== undefined && name !== '' && call.name === '') call.name = name;
    const args = fn.arguments;
    if (typeof args === 'string') call.arguments += args;
    else if (isObj(args)) call.arguments += JSON.stringify(args);
    return index;
  };

  return {
    get deltas() {
      return deltas;
    },
    add(chunk) {
      if (!isObj(chunk)) return {};
      if (isObj(chunk.error)) return { error: chunk };
      // vLLM's mid-stream error shape: {"object": "error", "message": ..., "code": ...}.
      if (chunk.object === 'error')
        return { error: { error: { message: str(chunk.message) ?? 'error', code: chunk.code } } };
      if (typeof chunk.model === 'string' && chunk.model !== '') model = chunk.model;
      if (isObj(chunk.usage)) usage = chunk.usage;
      const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
      const choice = choices.find((c) => isObj(c) && (c.index === undefined || c.index === 0));
      if (!isObj(choice)) return {};
      sawChoice = true;
      if (typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
      // Some servers send the last chunk with `message` instead of `delta`.
      const d = isObj(choice.delta) ? choice.delta : isObj(choice.message) ? choice.message : {};
      const out: ChatDelta = {};
      if (d.content !== undefined && d.content !== null) {
        sawContent = true;
        const text = textOf(d.content);
        if (text !== '') {
          content += text;
          out.content = text;
        }
      }
      const r = str(d.reasoning) ?? '';
      const rc = str(d.reasoning_content) ?? '';
      if (r !== '') reasoning += r;
      if (rc !== '') reasoningContent += rc;
      if (r !== '' || rc !== '') out.reasoning = r + rc;
      if (Array.isArray(d.reasoning_details)) reasoningDetails.push(...d.reasoning_details);
      if (Array.isArray(d.tool_calls)) {
        for (const tc of d.tool_calls) {
          const index = toolCallDelta(tc);
          if (index !== undefined) out.toolCallIndex = index;
        }
      }
      if (out.content === undefined && out.reasoning === undefined && out.toolCallIndex === undefined)
        return {};
      deltas++;
      return { delta: out };
    },
    finish(endpoint) {
      // An empty text (the role chunk's `content: ""` of a tool-call reply) is no text, as unstreamed.
      const message: Obj = { role: 'assistant', content: sawContent && content !== '' ? content : null };
      const toolCalls = calls
        .filter((c): c is ToolCallParts => c !== undefined)
        .map((c) => ({
          ...(c.id === undefined ? {} : { id: c.id }),
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        }));
      if (toolCalls.length > 0) message.tool_calls = toolCalls;
      if (reasoning !== '') message.reasoning = reasoning;
      if (reasoningContent !== '') message.reasoning_content = reasoningContent;
      if (reasoningDetails.length > 0) message.reasoning_details = reasoningDetails;
      const body: Obj = {
        // No choice at all in the stream: let validation name it.
        choices: sawChoice ? [{ message, finish_reason: finishReason }] : [],
      };
      if (model !== undefined) body.model = model;
      if (usage !== undefined) body.usage = usage;
      return parseCompletion(body, endpoint);
    },
  };
}
