/**
 * Pure translation between the ChatModel port and the OpenAI chat-completions wire format:
 * request bodies out, completion bodies in (shape-checked by hand, see readCompletion).
 */

import { randomUUID } from 'node:crypto';
import { assertNever, MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { ChatMessage, ChatRequest, ChatResponse, ToolCall, Usage } from '../model.ts';
import { stripThink } from '../strip-think.ts';

/** How the endpoint takes `reasoningEffort`: OpenRouter's `reasoning: {effort}`, or OpenAI's `reasoning_effort`. */
export type ReasoningDialect = 'openrouter' | 'openai';

/** Message in the wire format. `tool_calls` only appears when non-empty (Groq rejects null). */
export function toWireMessage(message: ChatMessage): Record<string, unknown> {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'assistant': {
      const out: Record<string, unknown> = { role: 'assistant', content: message.content };
      if (message.toolCalls && message.toolCalls.length > 0) {
        out.tool_calls = message.toolCalls.map((c) => ({
          id: c.id,
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        }));
      }
      if (message.reasoningDetails && message.reasoningDetails.length > 0) {
        out.reasoning_details = message.reasoningDetails;
      }
      return out;
    }
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, name: message.name, content: message.content };
    default:
      return assertNever(message, 'chat message role');
  }
}

/** The JSON body of a chat-completions request. `tools` is omitted when empty (some back-ends reject []). */
export function toWireRequest(
  request: ChatRequest,
  withResponseFormat: boolean,
  dialect: ReasoningDialect = 'openai',
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: request.model,
    messages: request.messages.map(toWireMessage),
  };
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
  }
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  if (request.reasoningEffort !== undefined) {
    if (dialect === 'openrouter') body.reasoning = { effort: request.reasoningEffort };
    else body.reasoning_effort = request.reasoningEffort;
  }
  if (withResponseFormat && request.responseSchema) {
    body.response_format = {
      type: 'json_schema',
      json_schema: { name: request.responseSchema.name, schema: request.responseSchema.schema, strict: true },
    };
  }
  return body;
}

/**
 * The completion body's shape, checked by hand rather than with a zod schema: this runs on every
 * reply of every agent, and a hand-written check neither clones the body (zod's passthrough
 * objects do) nor allocates per field, which is most of marshal's own CPU time per call at 256
 * agents (bench/heavy.bench.ts). Unknown fields are ignored; where zod's schema had `.catch()`
 * (usage counts, cost, reasoning fields) a value of the wrong type is dropped instead of refused.
 */
interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  cost?: number | null;
}

interface WireToolCall {
  id?: string | null;
  function: { name: string; arguments?: string | Record<string, unknown> };
}

interface WireChoice {
  message: {
    content?: string | null | Array<{ type?: string; text?: string }>;
    tool_calls?: WireToolCall[] | null;
    reasoning?: string | null;
    reasoning_content?: string | null;
    reasoning_details?: unknown[] | null;
  };
  finish_reason?: string | null;
}

interface WireCompletion {
  model?: string;
  choices: WireChoice[];
  usage?: WireUsage | null;
}

/** Where the body is not a completion: a dotted path and what is wrong there. */
class ShapeIssue extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path || '(root)'}: ${problem}`);
  }
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const expected = (path: string, what: string, v: unknown): ShapeIssue =>
  new ShapeIssue(path, `expected ${what}, received ${kind(v)}`);

function object(v: unknown, path: string): Obj {
  if (!isObject(v)) throw expected(path, 'object', v);
  return v;
}

function optionalString(v: unknown, path: string, nullable: boolean): string | null | undefined {
  if (v === undefined || typeof v === 'string' || (nullable && v === null))
    return v as string | null | undefined;
  throw expected(path, nullable ? 'string or null' : 'string', v);
}

/** A string, null or undefined; anything else is dropped (zod's `.catch(null)`). */
const lenientString = (v: unknown): string | null | undefined =>
  v === undefined || v === null || typeof v === 'string' ? v : null;

const count = (v: unknown): number | undefined =>
  v === undefined ? undefined : typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;

function readUsage(v: unknown, path: string): WireUsage | null | undefined {
  if (v === undefined || v === null) return v;
  const u = object(v, path);
  const out: WireUsage = {};
  const prompt = count(u.prompt_tokens);
  if (prompt !== undefined) out.prompt_tokens = prompt;
  const completion = count(u.completion_tokens);
  if (completion !== undefined) out.completion_tokens = completion;
  if (u.cost !== undefined) out.cost = typeof u.cost === 'number' && Number.isFinite(u.cost) ? u.cost : null;
  return out;
}

function readContent(v: unknown, path: string): WireChoice['message']['content'] {
  if (v === undefined || v === null || typeof v === 'string') return v;
  if (!Array.isArray(v)) throw expected(path, 'string, null or an array of parts', v);
  return v.map((part, i) => {
    const p = object(part, `${path}.${i}`);
    const type = optionalString(p.type, `${path}.${i}.type`, false);
    const text = optionalString(p.text, `${path}.${i}.text`, false);
    const out: { type?: string; text?: string } = {};
    if (type !== undefined && type !== null) out.type = type;
    if (text !== undefined && text !== null) out.text = text;
    return out;
  });
}

function readToolCall(v: unknown, path: string): WireToolCall {
  const c = object(v, path);
  const fn = object(c.function, `${path}.function`);
  if (typeof fn.name !== 'string') throw expected(`${path}.function.name`, 'string', fn.name);
  const args = fn.arguments;
  if (args !== undefined && typeof args !== 'string' && !isObject(args)) {
    throw expected(`${path}.function.arguments`, 'string or object', args);
  }
  const call: WireToolCall = { function: { name: fn.name } };
  if (args !== undefined) call.function.arguments = args as string | Record<string, unknown>;
  const id = optionalString(c.id, `${path}.id`, true);
  if (id !== undefined) call.id = id;
  return call;
}

function readChoice(v: unknown, path: string): WireChoice {
  const c = object(v, path);
  const m = object(c.message, `${path}.message`);
  const message: WireChoice['message'] = {};
  const content = readContent(m.content, `${path}.message.content`);
  if (content !== undefined) message.content = content;
  const calls = m.tool_calls;
  if (calls !== undefined && calls !== null && !Array.isArray(calls)) {
    throw expected(`${path}.message.tool_calls`, 'array or null', calls);
  }
  if (calls !== undefined) {
    message.tool_calls =
      calls === null ? null : calls.map((x, i) => readToolCall(x, `${path}.message.tool_calls.${i}`));
  }
  const reasoning = lenientString(m.reasoning);
  if (reasoning !== undefined) message.reasoning = reasoning;
  const reasoningContent = lenientString(m.reasoning_content);
  if (reasoningContent !== undefined) message.reasoning_content = reasoningContent;
  const details = m.reasoning_details;
  if (details !== undefined) message.reasoning_details = Array.isArray(details) ? details : null;
  const choice: WireChoice = { message };
  const finish = optionalString(c.finish_reason, `${path}.finish_reason`, true);
  if (finish !== undefined) choice.finish_reason = finish;
  return choice;
}

function readCompletion(body: unknown): WireCompletion {
  const b = object(body, '');
  const model = optionalString(b.model, 'model', false);
  if (!Array.isArray(b.choices)) throw expected('choices', 'array', b.choices);
  if (b.choices.length === 0) throw new ShapeIssue('choices', 'expected at least 1 choice');
  const out: WireCompletion = { choices: b.choices.map((c, i) => readChoice(c, `choices.${i}`)) };
  if (typeof model === 'string') out.model = model;
  const usage = readUsage(b.usage, 'usage');
  if (usage !== undefined) out.usage = usage;
  return out;
}

/** Parses `usage` (incl. OpenRouter's `cost` in USD) into the port's {@link Usage}. */
export function parseUsage(raw: WireUsage | null | undefined): Usage {
  return {
    promptTokens: raw?.prompt_tokens ?? 0,
    completionTokens: raw?.completion_tokens ?? 0,
    costUsd: typeof raw?.cost === 'number' ? raw.cost : null,
  };
}

/** Validates a completion body and maps it to a {@link ChatResponse}; throws E_LLM_RESPONSE. */
export function parseCompletion(body: unknown, endpoint: string): ChatResponse {
  let parsed: WireCompletion;
  try {
    parsed = readCompletion(body);
  } catch (error) {
    if (!(error instanceof ShapeIssue)) throw error;
    throw new MarshalError(
      AGENT_ERRORS.E_LLM_RESPONSE,
      `${endpoint} returned an invalid completion (${error.message})`,
      { details: { endpoint, path: error.path || '(root)' } },
    );
  }
  const choice = parsed.choices[0]!;
  const rawContent = choice.message.content;
  const joined = Array.isArray(rawContent)
    ? rawContent.map((p) => p.text ?? '').join('')
    : (rawContent ?? null);
  const inline = joined === null ? { content: '', reasoning: '' } : stripThink(joined);
  const content =
    joined === null || (inline.content === '' && inline.reasoning !== '') ? null : inline.content;
  const reasoning = [choice.message.reasoning, choice.message.reasoning_content, inline.reasoning]
    .filter((r): r is string => typeof r === 'string' && r.trim() !== '')
    .join('\n\n');
  // A missing id would make every tool result answer `call_0`; each call gets its own.
  const toolCalls: ToolCall[] = (choice.message.tool_calls ?? []).map((c) => ({
    id: c.id && c.id !== '' ? c.id : `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    name: c.function.name,
    arguments:
      typeof c.function.arguments === 'string'
        ? c.function.arguments
        : JSON.stringify(c.function.arguments ?? {}),
  }));
  const response: ChatResponse = {
    content,
    toolCalls,
    finishReason: choice.finish_reason ?? null,
    usage: parseUsage(parsed.usage),
  };
  if (reasoning !== '') response.reasoning = reasoning;
  const details = choice.message.reasoning_details;
  if (details && details.length > 0) response.reasoningDetails = details;
  if (parsed.model !== undefined) response.model = parsed.model;
  return response;
}
