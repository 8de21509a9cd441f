/**
 * Heavy-run overhead, measured against a minimal client: the same fake OpenAI-compatible server
 * (in its own process, answering every call after L ms), the same calls in the same order, made
 * once by marshal's runHeavy and once by a minimal client (plain `fetch` + `Promise.all`: the
 * decomposition call, then per agent a call answered with a tool call and a call with the tool
 * result, all agents at once, then the synthesis call). Both run side by side in one bench run,
 * each measurement in a fresh child process (so CPU time and peak RSS are that client's alone),
 * alternating, median of RUNS. Target: marshal's wall time within 1.05x of the minimal client's
 * at every N.
 *
 * One run has at most 64 agents (`SETTINGS.agents`); N = 256 is four runs of 64 at once in one
 * process (sharing the endpoint limiter), and four minimal runs of 64 at once.
 *
 * Run: npm run bench -- heavy   (or node --import tsx bench/heavy.bench.ts [latencyMs]);
 * MARSHAL_BENCH_N=64,256 limits the sizes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createBuiltinTools, ToolRegistry } from '../src/agents/index.ts';
import { DEFAULT_PROMPTS, fillTemplate } from '../src/agents/prompts.ts';
import { createOpenAICompatibleModel } from '../src/agents/providers/openai-compatible.ts';
import { runHeavy } from '../src/agents/run-heavy.ts';

const SELF = fileURLToPath(import.meta.url);
const SERVER = fileURLToPath(new URL('../src/testing/fake-openai-server.ts', import.meta.url));
// MARSHAL_BENCH_N=256 (or 4,16) measures only those sizes.
const SIZES = (process.env.MARSHAL_BENCH_N ?? '4,16,64,256').split(',').map(Number);
const MAX_PER_RUN = 64;
const RUNS = 3;
const QUESTION = 'How do heavy runs scale?';

// decomposition -> N questions; an agent's first call -> a calculate tool call; its second call
// and the synthesis -> text; every reply after L ms.
const serverCode = (L: number) => `
import { startFakeOpenAIServer } from ${JSON.stringify(SERVER)};
const L = ${L};
const server = await startFakeOpenAIServer((req) => {
  const body = req.body;
  const text = JSON.stringify(body.messages);
  if (text.includes('orchestrator')) {
    const n = Number(/create (\\d+) different questions/.exec(text)?.[1] ?? 4);
    return { delayMs: L, content: JSON.stringify(Array.from({ length: n }, (_, i) => 'Sub-question ' + (i + 1) + '?')) };
  }
  if (text.includes('research agents each investigated')) return { delayMs: L, content: 'final answer' };
  const hasToolResult = body.messages.some((m) => m.role === 'tool');
  if (!hasToolResult) return { delayMs: L, toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }] };
  return { delayMs: L, content: 'agent answer 42' };
});
console.log(server.url);
process.on('SIGTERM', async () => { await server.close(); process.exit(0); });
`;

interface Figures {
  wallMs: number;
  calls: number;
  cpuMs: number;
  maxRssMb: number;
}

// ---------- the two clients (run inside a child) ----------

async function marshalRun(url: string, n: number): Promise<number> {
  // Up to 3 retries of a dropped connection, as the minimal client does (keep-alive races under load).
  const model = createOpenAICompatibleModel({ baseUrl: url, retries: 3, baseDelayMs: 1 });
  const tools = new ToolRegistry(createBuiltinTools({ workspace: process.cwd() }));
  let calls = 0;
  const result = await runHeavy(QUESTION, {
    model,
    modelId: 'bench',
    tools,
    agents: n,
    onEvent: (e) => {
      if (e.type === 'llm_response') calls++;
    },
  });
  if (result.answer !== 'final answer' || result.agents.some((a) => a.status !== 'ok')) {
    throw new Error(`bench run failed: ${JSON.stringify(result.agents.map((a) => a.error))}`);
  }
  return calls;
}

async function minimalRun(url: string, n: number): Promise<number> {
  const endpoint = `${url}/chat/completions`;
  const specs = new ToolRegistry(createBuiltinTools({ workspace: process.cwd() })).specs();
  const tools = specs.map((t) => ({
    type: 'function',
    function: { name: t.name, description: t.description, parameters: t.parameters },
  }));
  let calls = 0;
  const send = (body: unknown) =>
    fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
  const post = async (body: unknown) => {
    // Up to 3 retries of a dropped connection, as marshal's client gets (keep-alive races under load).
    let res: Response | undefined;
    for (let attempt = 0; res === undefined; attempt++) {
      res = await send(body).catch((error: unknown) => {
        if (attempt >= 3) throw error;
        return undefined;
      });
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    calls++;
    return (await res.json()) as {
      choices: Array<{ message: { content: string | null; tool_calls?: Array<Record<string, unknown>> } }>;
    };
  };
  const decomposition = await post({
    model: 'bench',
    messages: [{ role: 'user', content: fillTemplate(DEFAULT_PROMPTS.decompose, { question: QUESTION, n }) }],
  });
  const subs = JSON.parse(decomposition.choices[0]!.message.content!) as string[];
  const answers = await Promise.all(
    subs.map(async (sub) => {
      const messages: unknown[] = [
        { role: 'system', content: DEFAULT_PROMPTS.system },
        { role: 'user', content: `Original question (the user asked this):\n${QUESTION}\n\n${sub}` },
      ];
      const first = await post({ model: 'bench', messages, tools });
      const call = first.choices[0]!.message.tool_calls![0]!;
      messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      messages.push({ role: 'tool', tool_call_id: call.id, content: '42' });
      const second = await post({ model: 'bench', messages, tools });
      return second.choices[0]!.message.content!;
    }),
  );
  const final = await post({
    model: 'bench',
    messages: [
      {
        role: 'user',
        content: fillTemplate(DEFAULT_PROMPTS.synthesize, {
          question: QUESTION,
          num_responses: answers.length,
          agent_responses: answers.map((a, i) => `=== RESPONSE ${i + 1} ===\n${a}`).join('\n\n'),
        }),
      },
    ],
  });
  if (final.choices[0]!.message.content !== 'final answer') throw new Error('minimal run failed');
  return calls;
}

/** N agents as runs of at most 64, all at once. */
async function measureIn(client: 'marshal' | 'minimal', url: string, n: number): Promise<Figures> {
  const run = client === 'marshal' ? marshalRun : minimalRun;
  const parts = Array.from({ length: Math.ceil(n / MAX_PER_RUN) }, (_, i) =>
    Math.min(MAX_PER_RUN, n - i * MAX_PER_RUN),
  );
  await run(url, 4); // warm-up: JIT, connection pool
  const cpu = process.cpuUsage();
  const started = performance.now();
  const calls = (await Promise.all(parts.map((p) => run(url, p)))).reduce((a, b) => a + b, 0);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    wallMs,
    calls,
    cpuMs: (used.user + used.system) / 1000,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

// ---------- the parent ----------

async function child(client: string, url: string, n: number): Promise<Figures> {
  const proc = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', client, url, String(n)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const [code] = (await once(proc, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${client} N=${n} exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Figures;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(L: number): Promise<void> {
  const server = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', serverCode(L)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const lines = createInterface({ input: server.stdout! });
    const [url] = (await once(lines, 'line')) as [string];
    console.log(
      `heavy: marshal vs a minimal fetch + Promise.all client, same calls, fake server latency L = ${L} ms, median of ${RUNS}`,
    );
    console.log('');
    const head = [
      'agents',
      'calls',
      'minimal ms',
      'marshal ms',
      'ratio',
      'target',
      'CPU ms/call',
      'peak RSS MB',
    ];
    console.log(head.map((h) => h.padStart(12)).join(''));
    let ok = true;
    for (const n of SIZES) {
      const mine: Figures[] = [];
      const base: Figures[] = [];
      for (let i = 0; i < RUNS; i++) {
        // Alternate which goes first, so a load spike does not always hit the same client.
        if (i % 2 === 0) {
          base.push(await child('minimal', url, n));
          mine.push(await child('marshal', url, n));
        } else {
          mine.push(await child('marshal', url, n));
          base.push(await child('minimal', url, n));
        }
      }
      const ratio = median(mine.map((m) => m.wallMs)) / median(base.map((b) => b.wallMs));
      ok &&= ratio <= 1.05;
      const perCall = (fs: Figures[]) => median(fs.map((f) => f.cpuMs / f.calls)).toFixed(2);
      const rss = (fs: Figures[]) => Math.max(...fs.map((f) => f.maxRssMb)).toFixed(0);
      const row = [
        n,
        mine[0]!.calls,
        median(base.map((b) => b.wallMs)).toFixed(0),
        median(mine.map((m) => m.wallMs)).toFixed(0),
        ratio.toFixed(3),
        ratio <= 1.05 ? '<=1.05 ok' : '<=1.05 MISS',
        `${perCall(base)} / ${perCall(mine)}`,
        `${rss(base)} / ${rss(mine)}`,
      ];
      console.log(row.map((c) => String(c).padStart(12)).join(''));
    }
    console.log('');
    console.log(
      'ratio = marshal wall / minimal wall (medians); CPU ms per call and peak RSS: minimal / marshal,',
    );
    console.log('each measured in its own child process after one warm-up run of 4 agents.');
    console.log(
      ok ? 'marshal within 1.05x of the minimal client at every N' : 'marshal is slower than 1.05x at some N',
    );
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
}

if (process.argv[2] === '--child') {
  const [client, url, n] = process.argv.slice(3);
  const figures = await measureIn(client as 'marshal' | 'minimal', url!, Number(n));
  console.log(JSON.stringify(figures));
} else {
  await main(Number(process.argv[2] ?? 200));
}
