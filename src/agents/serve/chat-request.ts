/**
 * Validating a `POST /v1/chat/completions` body for `marshal serve` (zod, at the boundary): the
 * model (`marshal-heavy` or `marshal-ask`), the messages (string content or text parts), `stream`
 * and `stream_options.include_usage`, and marshal's own `marshal: {agents, strategy}`, checked
 * against the settings table. Other OpenAI fields (temperature, max_tokens, ...) are accepted and
 * ignored: the server's options decide the upstream calls. Pure.
 */
import { z } from 'zod';
import type { CombineStrategy } from '../combine/index.ts';
import { SETTINGS, settingExpectation } from '../settings.ts';
import { BadRequest } from './openai-error.ts';

/** The models `marshal serve` offers. */
export const SERVE_MODELS = ['marshal-heavy', 'marshal-ask'] as const;
export type ServeModel = (typeof SERVE_MODELS)[number];

const textPart = z.object({ type: z.string(), text: z.string().optional() }).passthrough();
const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
    content: z.union([z.string(), z.array(textPart), z.null()]).optional(),
    name: z.string().optional(),
  })
  .passthrough();

const body = z
  .object({
    model: z.string(),
    messages: z.array(message).min(1),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
    marshal: z.unknown().optional(),
  })
  .passthrough();

const marshalOptions = z.strictObject({
  agents: SETTINGS.agents.schema.optional(),
  strategy: SETTINGS.strategy.schema.optional(),
});

/** A validated request. */
export interface ServeChatRequest {
  model: ServeModel;
  /** The question handed to the run: the last user message, with earlier messages as context. */
  question: string;
  stream: boolean;
  includeUsage: boolean;
  agents?: number;
  strategy?: CombineStrategy;
}

function textOf(content: z.infer<typeof message>['content']): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('');
  return '';
}

/**
 * The question for the run: the last user message; earlier messages (system prompts, earlier
 * turns) come before it, labelled, as context.
 */
export function questionFromMessages(messages: ReadonlyArray<{ role: string; content: string }>): string {
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === 'user' && messages[i]!.content.trim() !== '') {
      last = i;
      break;
    }
  }
  if (last === -1) throw new BadRequest('messages: expected at least one user message with text', 'messages');
  const question = messages[last]!.content.trim();
  const context = messages
    .filter((m, i) => i !== last && m.content.trim() !== '')
    .map((m) => `[${m.role}] ${m.content.trim()}`);
  if (context.length === 0) return question;
  return ['Context (earlier messages of the conversation):', ...context, '', 'Question:', question].join(
    '\n',
  );
}

/** Validates `raw` (parsed JSON); throws {@link BadRequest} naming the field, or returns undefined for an unknown model. */
export function parseChatRequest(raw: unknown): ServeChatRequest | { unknownModel: string } {
  const parsed = body.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.join('.') || null;
    throw new BadRequest(`${param ?? 'body'}: ${issue.message}`, param);
  }
  const b = parsed.data;
  if (!(SERVE_MODELS as readonly string[]).includes(b.model)) return { unknownModel: b.model };
  const request: ServeChatRequest = {
    model: b.model as ServeModel,
    question: questionFromMessages(b.messages.map((m) => ({ role: m.role, content: textOf(m.content) }))),
    stream: b.stream === true,
    includeUsage: b.stream_options?.include_usage === true,
  };
  if (b.marshal !== undefined && b.marshal !== null) {
    const m = marshalOptions.safeParse(b.marshal);
    if (!m.success) {
      const issue = m.error.issues[0]!;
      const key = String(issue.path[0] ?? '');
      const value = (b.marshal as Record<string, unknown>)[key];
      const expected =
        key === 'agents' || key === 'strategy'
          ? `expected ${settingExpectation(key)}, got ${JSON.stringify(value)}`
          : issue.message;
      throw new BadRequest(`marshal${key ? `.${key}` : ''}: ${expected}`, `marshal${key ? `.${key}` : ''}`);
    }
    if (m.data.agents !== undefined) request.agents = m.data.agents;
    if (m.data.strategy !== undefined) request.strategy = m.data.strategy;
  }
  return request;
}
