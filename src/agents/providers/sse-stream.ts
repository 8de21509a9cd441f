/**
 * Reading a streamed chat-completions response body: SSE events (sse.ts) to chunks to one
 * assembled reply (sse-completion.ts), handing each delta to the caller as it arrives. Ends at
 * `data: [DONE]` or at the end of the body (servers that omit `[DONE]`). A body that is not an
 * event stream (a server that ignored `stream: true`) is parsed as a plain completion.
 */
import { MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { ChatDelta, ChatResponse } from '../model.ts';
import { httpError, type RequestContext } from './http-error.ts';
import { createSseParser } from './sse.ts';
import { createStreamAssembler } from './sse-completion.ts';
import { parseCompletion } from './wire-format.ts';

export interface ReadStreamOptions {
  endpoint: string;
  /** Secrets to redact from messages. */
  known: readonly string[];
  context: RequestContext;
  onDelta?: ((delta: ChatDelta) => void) | undefined;
}

/** True when the response is an event stream (by its content type). */
export function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').toLowerCase().includes('text/event-stream');
}

function responseError(endpoint: string, message: string, status: number): MarshalError {
  return new MarshalError(AGENT_ERRORS.E_LLM_RESPONSE, `${endpoint} ${message}`, {
    details: { endpoint, status },
  });
}

/**
 * Consumes `response` (status 2xx) and returns the assembled reply. An error object in the
 * stream becomes E_LLM_HTTP (its `code` as status, as for a 200 with an error body); once deltas
 * have been handed out it is not retryable (a retry would repeat text the caller already showed).
 */
export async function readCompletionStream(
  response: Response,
  options: ReadStreamOptions,
): Promise<ChatResponse> {
  const { endpoint } = options;
  if (!isEventStream(response)) {
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw responseError(
        endpoint,
        'returned a body that is neither an event stream nor JSON',
        response.status,
      );
    }
    const completion = parseCompletion(body, endpoint);
    if (completion.content !== null) options.onDelta?.({ content: completion.content });
    return completion;
  }
  const parser = createSseParser();
  const assembler = createStreamAssembler();
  let done = false;
  const handle = (data: string): void => {
    if (data.trim() === '[DONE]') {
      done = true;
      return;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw responseError(endpoint, 'sent a stream event that is not JSON', response.status);
    }
    const { delta, error } = assembler.add(chunk);
    if (error !== undefined) {
      const err = httpError(response, JSON.stringify(error), endpoint, options.known, options.context);
      if (assembler.deltas === 0) throw err;
      throw new MarshalError(AGENT_ERRORS.E_LLM_HTTP, `${err.message} (mid-stream)`, {
        details: { ...err.details, retryable: false, midStream: true },
        ...(err.hint ? { hint: err.hint } : {}),
      });
    }
    if (delta !== undefined) options.onDelta?.(delta);
  };
  const body = response.body;
  if (body === null) throw responseError(endpoint, 'returned an empty stream', response.status);
  const reader = body.getReader();
  try {
    while (!done) {
      const { value, done: eof } = await reader.read();
      const events = eof ? parser.end() : parser.push(value);
      for (const ev of events) {
        if (ev.event === 'error') {
          // A named error event: its data is the error object (or text).
          handle(ev.data.trim().startsWith('{') ? ev.data : JSON.stringify({ error: { message: ev.data } }));
        } else handle(ev.data);
        if (done) break;
      }
      if (eof) break;
    }
  } catch (error) {
    if (error instanceof RangeError) throw responseError(endpoint, `sent ${error.message}`, response.status);
    throw error;
  } finally {
    // Stop reading (after [DONE] some servers keep the connection open); releases the socket.
    await reader.cancel().catch(() => {});
  }
  return assembler.finish(endpoint);
}
