/**
 * A Server-Sent Events parser per the WHATWG event-stream rules, fed with byte chunks as they
 * arrive: lines end in LF, CRLF or CR (also split across chunks); `:` lines are comments
 * (OpenRouter's `: OPENROUTER PROCESSING` keep-alives); several `data:` lines of one event are
 * joined with "\n"; a blank line dispatches; one leading space after the colon is dropped; a
 * leading BOM is ignored. Pure: no I/O, no clock.
 */

/** One dispatched event. `event` is the `event:` field, 'message' when absent. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Bound on one event's buffered data, against a server that never sends a blank line. */
export const MAX_SSE_EVENT_BYTES = 8 * 1024 * 1024;

export interface SseParser {
  /** Feeds a chunk; returns the events it completed. Throws RangeError past {@link MAX_SSE_EVENT_BYTES}. */
  push(chunk: Uint8Array | string): SseEvent[];
  /** End of stream: a last event not followed by a blank line is dispatched (servers that omit it). */
  end(): SseEvent[];
}

/** Creates a parser. */
export function createSseParser(maxEventBytes = MAX_SSE_EVENT_BYTES): SseParser {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let sawCR = false;
  let first = true;
  let data: string[] = [];
  let dataBytes = 0;
  let eventName = '';
  let id: string | undefined;

  const dispatch = (out: SseEvent[]): void => {
    if (data.length > 0) {
      const ev: SseEvent = { event: eventName === '' ? 'message' : eventName, data: data.join('\n') };
      if (id !== undefined) ev.id = id;
      out.push(ev);
    }
    data = [];
    dataBytes = 0;
    eventName = '';
  };

  const line = (text: string, out: SseEvent[]): void => {
    if (text === '') {
      dispatch(out);
      return;
    }
    if (text.startsWith(':')) return; // comment / keep-alive
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      dataBytes += value.length + 1;
      if (dataBytes > maxEventBytes) throw new RangeError(`an SSE event exceeded ${maxEventBytes} bytes`);
      data.push(value);
    } else if (field === 'event') eventName = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
    // `retry:` and unknown fields are ignored.
  };

  const feed = (text: string, out: SseEvent[]): void => {
    let s = pending + text;
    pending = '';
    if (first && s.length > 0) {
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
      first = false;
    }
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10 && sawCR) {
        // The LF of a CRLF split across chunks (or right after the CR).
        sawCR = false;
        start = i + 1;
        continue;
      }
      sawCR = false;
      if (c === 10 || c === 13) {
        line(s.slice(start, i), out);
        sawCR = c === 13;
        start = i + 1;
      }
    }
    pending = s.slice(start);
    if (pending.length > maxEventBytes) throw new RangeError(`an SSE line exceeded ${maxEventBytes} bytes`);
  };

  return {
    push(chunk) {
      const out: SseEvent[] = [];
      feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }), out);
      return out;
    },
    end() {
      const out: SseEvent[] = [];
      feed(decoder.decode(), out);
      if (pending !== '') line(pending, out);
      pending = '';
      dispatch(out);
      return out;
    },
  };
}
