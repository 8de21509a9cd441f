/**
 * `marshal serve`: heavy behind an OpenAI-compatible endpoint; a thin adapter over `startServe`.
 * Runs until SIGINT/SIGTERM (exit 130), which cancels the runs in progress.
 */
import { randomBytes } from 'node:crypto';
import {
  createAgentRuntime,
  DEFAULT_MAX_CONCURRENT_RUNS,
  settingsRunner,
  startServe,
} from '../agents/index.ts';
import { sanitizeForLog, UsageError } from '../core/index.ts';
import { HEAVY_OPTIONS, loadSettings, toolWarning, withFlagNames } from './agent-setup.ts';
import {
  type CommandContext,
  type CommandSpec,
  numberOption,
  type OptionSpec,
  stringOption,
} from './command.ts';

/** The variable holding the token clients must send; generated and printed once when unset. */
export const TOKEN_ENV = 'MARSHAL_SERVE_TOKEN';

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** Every heavy option except those about one run's output (--json, --stream: the client decides). */
const { json: _json, stream: _stream, ...RUN_OPTIONS } = HEAVY_OPTIONS;

const SERVE_OPTIONS: Record<string, OptionSpec> = {
  host: { type: 'string', valueName: 'addr', description: 'address to listen on', defaultText: '127.0.0.1' },
  port: {
    type: 'string',
    valueName: 'n',
    description: 'port to listen on (0: any free port)',
    defaultText: '8080',
  },
  'max-concurrent-runs': {
    type: 'string',
    valueName: 'n',
    description: 'runs at once; one more request gets 429 with Retry-After',
    defaultText: String(DEFAULT_MAX_CONCURRENT_RUNS),
  },
  ...RUN_OPTIONS,
};

async function runServeCommand(ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const host = stringOption(ctx.values, 'host') ?? '127.0.0.1';
  const port = numberOption(ctx.values, 'port', { min: 0, max: 65_535, integer: true }) ?? 8080;
  const maxConcurrentRuns =
    numberOption(ctx.values, 'max-concurrent-runs', { min: 1, max: 1024, integer: true }) ??
    DEFAULT_MAX_CONCURRENT_RUNS;
  const envToken = io.env[TOKEN_ENV]?.trim();
  if (envToken !== undefined && envToken !== '' && envToken.length < 8) {
    throw new UsageError(`${TOKEN_ENV} must be at least 8 characters`);
  }
  const { settings: loaded } = await loadSettings(ctx);
  // Every upstream call streams, so a streamed request gets the combine step's tokens as they come.
  const settings = { ...loaded, stream: true };
  const runtime = await createAgentRuntime(settings, {
    env: io.env,
    onToolSkipped: toolWarning(ctx),
    signal: ctx.signal,
  }).catch((error: unknown) => {
    throw withFlagNames(error);
  });
  try {
    const token = envToken || randomBytes(24).toString('base64url');
    if (!isLoopback(host)) {
      io.stderr.write(
        `marshal serve: warning: listening on ${sanitizeForLog(host)}, not loopback: anyone who can reach it and has the token spends your upstream credits; the traffic is plain HTTP (put TLS in front)\n`,
      );
    }
    const server = await startServe({
      host,
      port,
      token,
      maxConcurrentRuns,
      runner: settingsRunner(settings, runtime),
      signal: ctx.signal,
      onLog: (line) => io.stderr.write(`marshal serve: ${sanitizeForLog(line)}\n`),
    }).catch((error: unknown) => {
      throw withFlagNames(error);
    });
    if (!envToken) {
      io.stderr.write(`marshal serve: token (generated; set ${TOKEN_ENV} to choose one): ${token}\n`);
    }
    io.stderr.write(`listening on ${server.url}\n`);
    if (!ctx.signal.aborted) {
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    await server.close();
  } finally {
    await runtime.close();
  }
  return 0;
}

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'serve heavy as an OpenAI-compatible endpoint (models marshal-heavy and marshal-ask)',
  usage: 'serve [--host 127.0.0.1] [--port 8080] [heavy options]',
  description: [
    'Serves GET /v1/models and POST /v1/chat/completions (stream or not) with the models marshal-heavy',
    '(the heavy pipeline over the messages: the last user message is the question, earlier ones context)',
    'and marshal-ask (one agent). The upstream model and endpoint are the options below; a request may',
    'set "marshal": {"agents": N, "strategy": "..."}. Every request needs Authorization: Bearer <token>:',
    `${TOKEN_ENV}, else a token generated at start and printed once on stderr. Usage is totalled over`,
    'every upstream call; details (sub-questions, agent statuses) are in the "marshal" field. Streamed',
    'responses carry progress only in the "marshal" field of chunks with an empty delta. A client that',
    'disconnects cancels its run. Binds 127.0.0.1 unless --host says otherwise (then a warning).',
    'Prints "listening on http://HOST:PORT/v1" on stderr; runs until SIGINT/SIGTERM.',
  ].join('\n'),
  options: SERVE_OPTIONS,
  exitCodes: [
    [0, 'not used: the server runs until interrupted'],
    [1, 'cannot listen (E_SERVE_LISTEN), runtime failure'],
    [2, 'usage or config error'],
    [130, 'interrupted (SIGINT/SIGTERM): the runs in progress are cancelled'],
  ],
  examples: [
    'marshal serve --port 8080 --model moonshotai/kimi-k2 -n 4',
    `${TOKEN_ENV}=s3cret-token marshal serve --base-url http://127.0.0.1:11434/v1 --model llama3.1`,
    'curl -H "Authorization: Bearer $MARSHAL_SERVE_TOKEN" http://127.0.0.1:8080/v1/models',
  ],
  run: runServeCommand,
};
