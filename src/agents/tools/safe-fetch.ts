/**
 * GET for URLs the model or a web page chose (search results, redirects). Every hop is checked
 * with address-policy.ts after DNS resolution, and the connection goes to the very address that
 * was checked: the check runs inside the socket's `lookup`, so a DNS answer that changes between
 * check and connect (rebinding) cannot slip through. IP literals are checked before any socket
 * exists. Redirects are followed by hand (at most `maxRedirects`), each hop checked again; the
 * body is cut at `maxBytes`. Origins in `trustedOrigins` (the user's own search endpoint) skip the
 * address check, nothing else does.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { classifyAddress } from './address-policy.ts';

/** A URL refused by the address policy (no connection was made to it). */
export class BlockedUrlError extends Error {
  readonly code = 'E_BLOCKED_URL';
  constructor(message: string) {
    super(message);
    this.name = 'BlockedUrlError';
  }
}

export interface SafeFetchOptions {
  signal: AbortSignal;
  /** Bytes of body kept at most; the rest is not read. */
  maxBytes: number;
  /** Redirect hops followed at most. Default 5. */
  maxRedirects?: number;
  headers?: Record<string, string>;
  /** Origins (`http://127.0.0.1:8080`) exempt from the address check. */
  trustedOrigins?: readonly string[];
  /** Resolves a host name to all its addresses (tests map names; default `dns.lookup`). */
  resolve?: (host: string) => Promise<LookupAddress[]>;
}

export interface SafeResponse {
  status: number;
  contentType: string;
  body: Buffer;
  /** The body was longer than `maxBytes` and was cut. */
  truncated: boolean;
  /** The URL of the last hop. */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const defaultResolve = (host: string): Promise<LookupAddress[]> =>
  new Promise((ok, fail) => dnsLookup(host, { all: true }, (e, list) => (e ? fail(e) : ok(list))));

function refusal(host: string, address: string): BlockedUrlError | undefined {
  const cls = classifyAddress(address);
  if (cls === 'public') return undefined;
  const what = address === host ? address : `${host} (${address})`;
  return new BlockedUrlError(`refused: ${what} is a ${cls} address`);
}

/** A `lookup` for the socket that resolves, refuses if ANY address is not public, and connects to the checked one. */
function checkedLookup(resolve: (host: string) => Promise<LookupAddress[]>): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (list) => {
        const blocked = list.map((a) => refusal(hostname, a.address)).find((e) => e !== undefined);
        if (blocked) return callback(blocked, '', 0);
        const family = (options as { family?: number }).family;
        const usable = list.filter((a) => !family || a.family === family);
        if (usable.length === 0) return callback(new BlockedUrlError(`${hostname} has no address`), '', 0);
        if ((options as { all?: boolean }).all) {
          return (callback as unknown as (e: null, l: LookupAddress[]) => void)(null, usable);
        }
        return callback(null, usable[0]!.address, usable[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}

function oneHop(url: URL, options: SafeFetchOptions, trusted: boolean): Promise<IncomingMessage> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!trusted && isIP(host) !== 0) {
    const blocked = refusal(host, host);
    if (blocked) return Promise.reject(blocked);
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((ok, fail) => {
    const req = request(url, {
      method: 'GET',
      headers: options.headers,
      signal: options.signal,
      agent: false,
      ...(trusted ? {} : { lookup: checkedLookup(options.resolve ?? defaultResolve) }),
    });
    req.once('response', ok);
    req.once('error', fail);
    req.end();
  });
}

async function readCapped(
  res: IncomingMessage,
  maxBytes: number,
): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      const room = maxBytes - size;
      if (chunk.length >= room) {
        chunks.push(chunk.subarray(0, room));
        size = maxBytes;
        truncated = chunk.length > room || !res.complete;
        break;
      }
      chunks.push(chunk);
      size += chunk.length;
    }
  } finally {
    res.destroy();
  }
  return { body: Buffer.concat(chunks), truncated };
}

/** GETs `url` under the address policy; throws BlockedUrlError for a refused hop, else network errors. */
export async function safeFetch(url: string, options: SafeFetchOptions): Promise<SafeResponse> {
  const maxRedirects = options.maxRedirects ?? 5;
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new BlockedUrlError(`refused: ${current.protocol} URLs are not fetched`);
    }
    const trusted = options.trustedOrigins?.includes(current.origin) ?? false;
    const res = await oneHop(current, options, trusted);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && typeof location === 'string') {
      res.destroy();
      if (hop >= maxRedirects) throw new BlockedUrlError(`more than ${maxRedirects} redirects`);
      current = new URL(location, current);
      continue;
    }
    const { body, truncated } = await readCapped(res, options.maxBytes);
    return {
      status,
      contentType: String(res.headers['content-type'] ?? ''),
      body,
      truncated,
      url: current.href,
    };
  }
}
