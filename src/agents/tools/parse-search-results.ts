/**
 * Parses a DuckDuckGo-HTML-style results page (`a.result__a` links, `.result__snippet` text) into
 * title/url/snippet triples. Pure; also understands DuckDuckGo's `/l/?uddg=` redirect links.
 */
import { attribute, htmlToText } from './html-text.ts';

export interface SearchResult {
  title: string;
  url: string;
  snippet: string;
}

/** The real target of a result link: unwraps `//duckduckgo.com/l/?uddg=<encoded>`; only http(s) URLs survive. */
export function resultUrl(href: string, pageUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(href, pageUrl);
  } catch {
    return undefined;
  }
  const wrapped = url.searchParams.get('uddg');
  if (wrapped && /\/l\/?$/.test(url.pathname)) {
    try {
      url = new URL(wrapped);
    } catch {
      return undefined;
    }
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
}

const RESULT_LINK = /<a\b[^>]*\bclass\s*=\s*["'][^"']*\bresult__a\b[^"']*["'][^>]*>([\s\S]*?)<\/a\s*>/gi;
const SNIPPET =
  /<(a|div|td|span)\b[^>]*\bclass\s*=\s*["'][^"']*\bresult__snippet\b[^"']*["'][^>]*>([\s\S]*?)<\/\1\s*>/i;

/** Results in page order, deduplicated by URL, at most `max`. */
export function parseSearchResults(html: string, pageUrl: string, max: number): SearchResult[] {
  const results: SearchResult[] = [];
  const seen = new Set<string>();
  const links = [...html.matchAll(RESULT_LINK)];
  for (let i = 0; i < links.length && results.length < max; i++) {
    const match = links[i]!;
    const openTag = match[0].slice(0, match[0].indexOf('>') + 1);
    const href = attribute(openTag, 'href');
    const url = href === undefined ? undefined : resultUrl(href, pageUrl);
    if (url === undefined || seen.has(url)) continue;
    // The snippet lives between this link and the next one.
    const from = (match.index ?? 0) + match[0].length;
    const to = links[i + 1]?.index ?? html.length;
    const snippetMatch = SNIPPET.exec(html.slice(from, to));
    seen.add(url);
    results.push({
      title: htmlToText(match[1] ?? ''),
      url,
      snippet: snippetMatch ? htmlToText(snippetMatch[2] ?? '') : '',
    });
  }
  return results;
}
