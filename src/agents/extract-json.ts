/**
 * Tolerant JSON extraction from model text: models wrap JSON in ```json fences, prose or both, even
 * when asked not to. Pure.
 */

/**
 * Finds the first JSON value in `text` that `accept` takes: the whole text, then each fenced
 * block, then each balanced `[...]` and `{...}` span (so a `[1]` citation in prose before the real
 * array is skipped). Returns undefined when nothing fits.
 */
export function extractJson(text: string, accept: (value: unknown) => boolean = () => true): unknown {
  const candidates: string[] = [text.trim()];
  for (const m of text.matchAll(/```(?:json|JSON)?\s*\n?([\s\S]*?)```/g)) candidates.push(m[1]!.trim());
  candidates.push(...balancedSpans(text, '['), ...balancedSpans(text, '{'));
  for (const c of candidates) {
    if (c === '') continue;
    try {
      const v: unknown = JSON.parse(c);
      if (accept(v)) return v;
    } catch {
      // Not this one; try the next candidate.
    }
  }
  return undefined;
}

/** Every balanced span starting at `open` (`[` or `{`), string literals respected. */
function balancedSpans(text: string, open: string): string[] {
  const close = open === '[' ? ']' : '}';
  const spans: string[] = [];
  for (
    let start = text.indexOf(open);
    start !== -1 && spans.length < 20;
    start = text.indexOf(open, start + 1)
  ) {
    let depth = 0;
    let inString = false;
    for (let i = start; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === open) depth++;
      else if (ch === close && --depth === 0) {
        spans.push(text.slice(start, i + 1));
        break;
      }
    }
  }
  return spans;
}
