/**
 * An in-memory {@link ChatModel} that answers from a script: one reply per call, in order, or a
 * function of the request. For loop logic tests; the HTTP path is covered by the fake server.
 */

import type { ChatModel, ChatRequest, ChatResponse, Usage } from '../agents/model.ts';
import { sleep } from '../core/async.ts';
import { CORE_ERRORS, MarshalError } from '../core/errors.ts';

/** One scripted reply. */
export type ScriptedReply =
  | {
      content?: string | null;
      toolCalls?: Array<{ name: string; arguments: string | Record<string, unknown>; id?: string }>;
      usage?: Partial<Usage>;
      finishReason?: string;
      delayMs?: number;
    }
  /** The call throws this error (e.g. a MarshalError 'E_LLM_HTTP'). */
  | { error: Error }
  /** The call never answers until its signal aborts. */
  | { hang: true };

/** What the scripted model saw: the request without its signal, messages copied at call time. */
export type RecordedChatRequest = Omit<ChatRequest, 'signal' | 'onRetry' | 'onDelta'>;

export type ScriptedReplies =
  | ScriptedReply[]
  | ((request: RecordedChatRequest, index: number) => ScriptedReply | Promise<ScriptedReply>);

export interface ScriptedModel extends ChatModel {
  readonly requests: RecordedChatRequest[];
}

/** Creates the scripted model. Running out of replies throws E_INTERNAL naming the call number. */
export function createScriptedModel(replies: ScriptedReplies): ScriptedModel {
  const requests: RecordedChatRequest[] = [];
  return {
    label: 'scripted',
    requests,
    async chat(request: ChatRequest): Promise<ChatResponse> {
      const { signal, onRetry: _onRetry, onDelta: _onDelta, ...rest } = request;
      const recorded: RecordedChatRequest = structuredClone(rest);
      const index = requests.length;
      requests.push(recorded);
      const reply =
        typeof replies === 'function'
          ? await replies(recorded, index)
          : (replies[index] ??
            ({
              error: new MarshalError(
                CORE_ERRORS.E_INTERNAL,
                `scripted model: no reply left for call ${index}`,
              ),
            } as const));
      if ('error' in reply) throw reply.error;
      if ('hang' in reply) {
        await sleep(2 ** 31 - 1, { signal });
        throw new MarshalError(CORE_ERRORS.E_INTERNAL, 'scripted model: hang ended without abort');
      }
      if (reply.delayMs !== undefined) await sleep(reply.delayMs, { signal });
      else if (signal?.aborted) await sleep(0, { signal });
      const toolCalls = (reply.toolCalls ?? []).map((c, i) => ({
        id: c.id ?? `call_${index}_${i}`,
        name: c.name,
        arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
      }));
      return {
        content: reply.content ?? null,
        toolCalls,
        finishReason: reply.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
        usage: {
          promptTokens: reply.usage?.promptTokens ?? 10,
          completionTokens: reply.usage?.completionTokens ?? 5,
          costUsd: reply.usage?.costUsd ?? null,
        },
      };
    },
  };
}
