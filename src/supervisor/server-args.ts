/**
 * Reads the endpoint out of ComfyUI-style server arguments, with ComfyGit's rules: `--port N`,
 * `--port=N`, `--listen` (bare = all interfaces), `--listen HOST`, `--listen=HOST`; later arguments
 * win and an invalid port keeps the previous value. Wildcard binds are probed on loopback. Pure.
 */

/** Host and port a server started with `args` listens on, as seen from this machine. */
export interface ServerEndpoint {
  host: string;
  port: number | undefined;
}

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '*']);

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Parses `--port` / `--listen` from server args; `port` is undefined when none is given. */
export function parseServerEndpoint(args: readonly string[]): ServerEndpoint {
  let port: number | undefined;
  let host = '127.0.0.1';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--port') {
      port = parsePort(args[i + 1]) ?? port;
      i++;
    } else if (arg.startsWith('--port=')) {
      port = parsePort(arg.slice('--port='.length)) ?? port;
    } else if (arg === '--listen') {
      const next = args[i + 1];
      if (next !== undefined && !next.startsWith('-')) {
        host = next;
        i++;
      } else {
        host = '0.0.0.0';
      }
    } else if (arg.startsWith('--listen=')) {
      host = arg.slice('--listen='.length);
    }
  }
  // ComfyUI accepts a comma-separated list; the first address is the one probed.
  const first = (host.split(',')[0] ?? '').trim();
  return { host: WILDCARDS.has(first) ? '127.0.0.1' : first.replace(/^\[(.*)\]$/, '$1'), port };
}

/** `http://host:port` with IPv6 hosts bracketed. */
export function baseUrl(host: string, port: number): string {
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}
