/**
 * Failing fast: a refusal that every later request would repeat (a bad key, an unknown model, an
 * account without credits; `fatalOf` in providers/http-error.ts) ends the whole run after the
 * first such reply, with one error naming the key variable or the model, instead of N agents each
 * trying, failing and reporting the same thing.
 */
import { MarshalError } from '../core/errors.ts';
import { AGENT_ERRORS } from './errors.ts';
import type { ChatModel, ChatRequest, ChatResponse } from './model.ts';
import { fatalOf } from './providers/http-error.ts';

export interface FailFast {
  /** The model to hand to every step: after a refusal it throws that refusal without a request. */
  model: ChatModel;
  /** Aborted (reason: the refusal) at the first refusal; merge it into the run's signal. */
  signal: AbortSignal;
  /** The E_LLM_REFUSED error once a refusal arrived, else undefined. */
  refusal(): MarshalError | undefined;
}

/** Wraps `model` so the first refusal is remembered and aborts {@link FailFast.signal}. */
export function failFast(model: ChatModel): FailFast {
  const controller = new AbortController();
  let refusal: MarshalError | undefined;
  const record = (error: unknown): void => {
    const kind = fatalOf(error);
    if (kind === undefined || refusal !== undefined || !(error instanceof MarshalError)) return;
    refusal = new MarshalError(AGENT_ERRORS.E_LLM_REFUSED, error.message, {
      cause: error,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      details: { ...error.details, fatal: kind },
    });
    controller.abort(refusal);
  };
  return {
    signal: controller.signal,
    refusal: () => refusal,
    model: {
      label: model.label,
      async chat(request: ChatRequest): Promise<ChatResponse> {
        if (refusal !== undefined) throw refusal;
        try {
          return await model.chat(request);
        } catch (error) {
          record(error);
          throw refusal ?? error;
        }
      },
    },
  };
}
