/**
 * Pure translation between the ChatModel port and the OpenAI chat-completions wire format:
 * request bodies out, completion bodies in (validated with zod).
 */

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
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

const count = z.number().finite().nonnegative().catch(0);

const usageSchema = z
  .object({
    prompt_tokens: count.optional(),
    completion_tokens: count.optional(),
    cost: z.number().finite().nullable().optional().catch(null),
  })
  .passthrough();

// Some servers send content as an array of text parts; join the text ones.
const contentSchema = z
  .union([
    z.string(),
    z.null(),
    z.array(z.object({ type: z.string().optional(), text: z.string().optional() }).passthrough()),
  ])
  .optional();

const toolCallSchema = z
  .object({
    id: z.string().nullable().optional(),
    function: z.object({
      name: z.string(),
      arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    }),
  })
  .passthrough();

const completionSchema = z
  .object({
    model: z.string().optional(),
    choices: z
      .array(
        z
          .object({
            message: z
              .object({
                content: contentSchema,
                tool_calls: z.array(toolCallSchema).nullable().optional(),
                reasoning: z.string().nullable().optional().catch(null),
                reasoning_content: z.string().nullable().optional().catch(null),
                reasoning_details: z.array(z.unknown()).nullable().optional().catch(null),
              })
              .passthrough(),
            finish_reason: z.string().nullable().optional(),
          })
          .passthrough(),
      )
      .min(1),
    usage: usageSchema.nullable().optional(),
  })
  .passthrough();

/** Parses `usage` (incl. OpenRouter's `cost` in USD) into the port's {@link Usage}. */
export function parseUsage(raw: z.infer<typeof usageSchema> | null | undefined): Usage {
  return {
    promptTokens: raw?.prompt_tokens ?? 0,
    completionTokens: raw?.completion_tokens ?? 0,
    costUsd: typeof raw?.cost === 'number' ? raw.cost : null,
  };
}

/** Validates a completion body and maps it to a {@link ChatResponse}; throws E_LLM_RESPONSE. */
export function parseCompletion(body: unknown, endpoint: string): ChatResponse {
  const parsed = completionSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown shape';
    throw new MarshalError(
      AGENT_ERRORS.E_LLM_RESPONSE,
      `${endpoint} returned an invalid completion (${where})`,
      {
        details: { endpoint },
      },
    );
  }
  const choice = parsed.data.choices[0]!;
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
    usage: parseUsage(parsed.data.usage),
  };
  if (reasoning !== '') response.reasoning = reasoning;
  const details = choice.message.reasoning_details;
  if (details && details.length > 0) response.reasoningDetails = details;
  if (parsed.data.model !== undefined) response.model = parsed.data.model;
  return response;
}
