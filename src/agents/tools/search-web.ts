/**
 * `search_web {query, max_results}`: queries a configurable HTML search endpoint (DuckDuckGo HTML
 * by default), parses the results, fetches the top pages with timeouts and returns their trimmed
 * text. Failures come back as data (`[{"error": "Search failed: ..."}]`), never as a crash.
 */
import { z } from 'zod';
import { deadline } from '../../core/deadline.ts';
import { cleanMessage, endpointLabel } from '../providers/http-error.ts';
import { collapseWhitespace, htmlToText } from './html-text.ts';
import { parseSearchResults, type SearchResult } from './parse-search-results.ts';
import type { ToolDefinition } from './tool.ts';

/** Search configuration (config file `search:` section). */
export interface SearchOptions {
  /** Search URL; `{query}` is replaced by the encoded query, else it is appended. Default DuckDuckGo HTML. */
  endpoint?: string;
  /** Default for `max_results` when the model omits it (the original ignored its config value). Default 5. */
  maxResults?: number;
  /** Bound on the search request. Default 10000 ms. */
  timeoutMs?: number;
  /** Bound on each result-page fetch. Default: `timeoutMs`. */
  pageTimeoutMs?: number;
  /** Characters of page text kept per result (then "..."). Default 1000, as in the original. */
  maxPageChars?: number;
  /** Bytes read from any response at most. Default 2 MiB. */
  maxFetchBytes?: number;
  /** Fetch result pages for their text; default true. */
  fetchPages?: boolean;
  userAgent?: string;
}

export const DEFAULT_SEARCH_ENDPOINT = 'https://html.duckduckgo.com/html/?q=';
const DEFAULT_USER_AGENT = 'Mozilla/5.0 (compatible; OpenRouter Agent)';
const MAX_RESULTS_CAP = 10;

/** The URL to query for `query`. */
export function searchUrl(endpoint: string, query: string): string {
  const encoded = encodeURIComponent(query);
  return endpoint.includes('{query}') ? endpoint.replaceAll('{query}', encoded) : `${endpoint}${encoded}`;
}

/** GET with a timeout merged into `signal` and a byte cap on the body; returns the decoded text. */
async function fetchText(
  fetchImpl: typeof fetch,
  url: string,
  options: { signal: AbortSignal; timeoutMs: number; maxBytes: number; userAgent: string },
): Promise<{ status: number; contentType: string; text: string }> {
  const d = deadline(options.timeoutMs, [options.signal], 'search');
  try {
    return await fetchBounded(fetchImpl, url, { ...options, signal: d.signal });
  } finally {
    d.clear();
  }
}

async function fetchBounded(
  fetchImpl: typeof fetch,
  url: string,
  options: { signal: AbortSignal; maxBytes: number; userAgent: string },
): Promise<{ status: number; contentType: string; text: string }> {
  const response = await fetchImpl(url, {
    headers: { 'user-agent': options.userAgent, accept: 'text/html,text/plain;q=0.9,*/*;q=0.1' },
    signal: options.signal,
  });
  const contentType = response.headers.get('content-type') ?? '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        size += value.length;
        if (size >= options.maxBytes) break;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
  const text = new TextDecoder('utf-8').decode(Buffer.concat(chunks).subarray(0, options.maxBytes));
  return { status: response.status, contentType, text };
}

function reason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

const parameters = z.strictObject({
  query: z.string().min(1).max(500).describe('The search query'),
  max_results: z
    .number()
    .int()
    .min(1)
    .max(MAX_RESULTS_CAP)
    .optional()
    .describe('Maximum number of results to return (default 5)'),
});

/** The search tool; `fetchImpl` lets tests and proxies replace the network. */
export function searchWebTool(
  options: SearchOptions = {},
  fetchImpl: typeof fetch = fetch,
): ToolDefinition<z.infer<typeof parameters>> {
  const endpoint = options.endpoint ?? DEFAULT_SEARCH_ENDPOINT;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pageTimeoutMs = options.pageTimeoutMs ?? timeoutMs;
  const maxPageChars = options.maxPageChars ?? 1000;
  const fetchOptions = {
    timeoutMs,
    maxBytes: options.maxFetchBytes ?? 2 * 1024 * 1024,
    userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
  };
  const failed = (message: string): string =>
    JSON.stringify([{ error: `Search failed: ${cleanMessage(message, [])}` }]);

  return {
    name: 'search_web',
    description:
      "Search the web for current information. Returns results with title, url, snippet and the start of each page's text.",
    parameters,
    async execute({ query, max_results }, ctx) {
      const max = Math.min(max_results ?? options.maxResults ?? 5, MAX_RESULTS_CAP);
      const url = searchUrl(endpoint, query);
      let results: SearchResult[];
      try {
        const page = await fetchText(fetchImpl, url, { ...fetchOptions, signal: ctx.signal });
        if (page.status < 200 || page.status >= 300) {
          return failed(`${endpointLabel(url)} answered HTTP ${page.status}`);
        }
        results = parseSearchResults(page.text, url, max);
      } catch (error) {
        ctx.signal.throwIfAborted();
        return failed(`${endpointLabel(url)}: ${reason(error, timeoutMs)}`);
      }
      if (results.length === 0) {
        return failed(`no results found for ${JSON.stringify(query)} (the page had no recognisable results)`);
      }
      if (options.fetchPages === false) return JSON.stringify(results);
      const withContent = await Promise.all(
        results.map(async (r) => ({ ...r, content: await pageContent(r.url) })),
      );
      ctx.signal.throwIfAborted();
      return JSON.stringify(withContent);

      async function pageContent(pageUrl: string): Promise<string> {
        try {
          const page = await fetchText(fetchImpl, pageUrl, {
            ...fetchOptions,
            timeoutMs: pageTimeoutMs,
            signal: ctx.signal,
          });
          if (page.status < 200 || page.status >= 300) return `Could not fetch content: HTTP ${page.status}`;
          const text =
            /html/i.test(page.contentType) || page.contentType === ''
              ? htmlToText(page.text)
              : /^text\//i.test(page.contentType)
                ? collapseWhitespace(page.text)
                : undefined;
          if (text === undefined)
            return `Could not fetch content: unsupported content type ${cleanMessage(page.contentType, [])}`;
          return text.length > maxPageChars ? `${text.slice(0, maxPageChars)}...` : text;
        } catch (error) {
          return `Could not fetch content: ${cleanMessage(reason(error, pageTimeoutMs), [])}`;
        }
      }
    },
  };
}
