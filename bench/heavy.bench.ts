/**
 * Heavy-run overhead: with a fake OpenAI-compatible server (in a child process, so the CPU figures
 * are the client's) that answers every call after a fixed latency L, a heavy run's wall time is
 * compared with its critical path measured in the same run: the decomposition call + the slowest
 * agent's calls (each agent makes a tool call, then answers: 2 calls) + the synthesis call.
 * Target: wall / critical path <= 1.10 for N = 4, 16 and 64 agents.
 *
 * Run: npm run bench -- heavy   (or node --import tsx bench/heavy.bench.ts [latencyMs])
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { HeavyEvent } from '../src/agents/events.ts';
import { createBuiltinTools, ToolRegistry } from '../src/agents/index.ts';
import { createOpenAICompatibleModel } from '../src/agents/providers/openai-compatible.ts';
import { runHeavy } from '../src/agents/run-heavy.ts';

const L = Number(process.argv[2] ?? 200);
const SIZES = [4, 16, 64];
const RUNS = 3;
const SERVER = fileURLToPath(new URL('../src/testing/fake-openai-server.ts', import.meta.url));

// The server script: decomposition -> N questions, agent's first call -> a calculate tool call,
// agent's second call and synthesis -> text; every reply after L ms.
const serverCode = `
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
  n: number;
  calls: number;
  wallMs: number;
  criticalMs: number;
  cpuMsPerCall: number;
}

async function measure(url: string, n: number): Promise<Figures> {
  const model = createOpenAICompatibleModel({ baseUrl: url, retries: 0 });
  const tools = new ToolRegistry(createBuiltinTools({ workspace: process.cwd() }));
  const decompose: number[] = [];
  const combine: number[] = [];
  const perAgent = new Map<string, number>();
  let calls = 0;
  const onEvent = (e: HeavyEvent) => {
    if (e.type !== 'llm_response') return;
    calls++;
    if (e.scope === 'decompose') decompose.push(e.durationMs);
    else if (e.scope === 'combine') combine.push(e.durationMs);
    else perAgent.set(e.scope, (perAgent.get(e.scope) ?? 0) + e.durationMs);
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await runHeavy('How do heavy runs scale?', {
    model,
    modelId: 'bench',
    tools,
    agents: n,
    onEvent,
  });
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (result.answer !== 'final answer' || result.agents.some((a) => a.status !== 'ok')) {
    throw new Error(`bench run failed: ${JSON.stringify(result.agents.map((a) => a.error))}`);
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const criticalMs = sum(decompose) + Math.max(...perAgent.values()) + sum(combine);
  return { n, calls, wallMs, criticalMs, cpuMsPerCall: (used.user + used.system) / 1000 / calls };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const server = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', serverCode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const lines = createInterface({ input: server.stdout! });
    const [url] = (await once(lines, 'line')) as [string];
    await measure(url, 4); // warm-up: JIT, connection pool
    console.log(`heavy: wall time vs critical path, fake server latency L = ${L} ms, median of ${RUNS} runs`);
    console.log('');
    const head = [
      'agents',
      'LLM calls',
      'wall ms',
      'critical ms',
      'wall/L',
      'critical/L',
      'ratio',
      'target',
      'CPU ms/call',
      'peak RSS MB',
    ];
    console.log(head.map((h) => h.padStart(12)).join(''));
    let ok = true;
    for (const n of SIZES) {
      const runs: Figures[] = [];
      for (let i = 0; i < RUNS; i++) runs.push(await measure(url, n));
      const ratio = median(runs.map((r) => r.wallMs / r.criticalMs));
      const pick = runs.find((r) => r.wallMs / r.criticalMs === ratio)!;
      ok &&= ratio <= 1.1;
      const rssMb = process.resourceUsage().maxRSS / 1024;
      const row = [
        n,
        pick.calls,
        pick.wallMs.toFixed(0),
        pick.criticalMs.toFixed(0),
        (pick.wallMs / L).toFixed(2),
        (pick.criticalMs / L).toFixed(2),
        ratio.toFixed(3),
        ratio <= 1.1 ? '<=1.10 ok' : '<=1.10 MISS',
        median(runs.map((r) => r.cpuMsPerCall)).toFixed(2),
        rssMb.toFixed(0),
      ];
      console.log(row.map((c) => String(c).padStart(12)).join(''));
    }
    console.log('');
    console.log(
      'critical path = decompose call + slowest agent (tool call + answer) + synthesis: 4 L nominal;',
    );
    console.log('ratio = wall / critical path measured in the same run (client-side call durations).');
    console.log(
      ok ? 'all within 10% of the critical path' : 'some runs exceed the critical path by more than 10%',
    );
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
}

await main();
