/**
 * Credentials written into a base URL (`https://user:pass@host/v1`). They must never reach a
 * message or a trace; `fetch` itself refuses such URLs with an error that quotes them whole.
 */

/** `raw` without its `user:pass@` part, and that part decoded (absent parts undefined). */
export function splitCredentials(raw: string): { url: string; user?: string; password?: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { url: raw };
  }
  if (u.username === '' && u.password === '') return { url: raw };
  const out: { url: string; user?: string; password?: string } = { url: '' };
  if (u.username !== '') out.user = safeDecode(u.username);
  if (u.password !== '') out.password = safeDecode(u.password);
  u.username = '';
  u.password = '';
  out.url = raw.endsWith('/') ? u.toString() : u.toString().replace(/\/+$/, '');
  return out;
}

/** The secret values in `raw` to redact wherever they appear (the password, raw and decoded). */
export function urlSecrets(raw: string): string[] {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return [];
  }
  if (u.password === '') return [];
  return [...new Set([u.password, safeDecode(u.password)])];
}

/** `raw` with any `user:pass@` replaced by `***@`, for showing a URL the user typed. */
export function redactUrl(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
