/**
 * Streaming time-to-first-token of the final answer: marshal's runHeavy (streaming provider,
 * the synthesis call's first `llm_delta` with `answer`) against a minimal streaming client
 * (plain `fetch`: the decomposition, then per agent a tool call and a tool result, all agents at
 * once, then the synthesis with `stream: true`, its SSE read by hand until the first content
 * delta). The same fake server (in its own process: every reply after L ms, the synthesis
 * streamed in 40 pieces D ms apart) answers both; the two alternate, median of RUNS. Reported:
 * TTFT from the start of the run, and from the synthesis request (the streaming path alone).
 * Target: marshal's TTFT within 1.05x of the minimal client's.
 *
 * Run: npm run bench -- heavy-ttft   (or node --import tsx bench/heavy-ttft.bench.ts [latencyMs])
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createBuiltinTools, ToolRegistry } from '../src/agents/index.ts';
import { DEFAULT_PROMPTS, fillTemplate } from '../src/agents/prompts.ts';
import { createOpenAICompatibleModel } from '../src/agents/providers/openai-compatible.ts';
import { runHeavy } from '../src/agents/run-heavy.ts';

const SERVER = fileURLToPath(new URL('../src/testing/fake-openai-server.ts', import.meta.url));
const N = 4;
const RUNS = 7;
const PIECE_DELAY_MS = 5;
const QUESTION = 'How fast does the answer start?';
const FINAL = 'The final answer, streamed in forty small pieces so that the first one is what counts here.';

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
  if (text.includes('research agents each investigated')) {
    return { delayMs: L, content: ${JSON.stringify(FINAL)}, stream: { pieceSize: Math.ceil(${FINAL.length} / 40), chunkDelayMs: ${PIECE_DELAY_MS} } };
  }
  const hasToolResult = body.messages.some((m) => m.role === 'tool');
  if (!hasToolResult) return { delayMs: L, toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }] };
  return { delayMs: L, content: 'agent answer 42' };
});
console.log(server.url);
process.on('SIGTERM', async () => { await server.close(); process.exit(0); });
`;

interface Ttft {
  fromStartMs: number;
  fromSynthesisMs: number;
}

async function marshalRun(url: string): Promise<Ttft> {
  const model = createOpenAICompatibleModel({ baseUrl: url, retries: 0, stream: true });
  const tools = new ToolRegistry(createBuiltinTools({ workspace: process.cwd() }));
  const started = performance.now();
  let synthesisAt = 0;
  let first = 0;
  await runHeavy(QUESTION, {
    model,
    modelId: 'bench/model',
    tools,
    agents: N,
    onEvent: (e) => {
      if (e.type === 'llm_request' && e.scope === 'combine' && synthesisAt === 0)
        synthesisAt = performance.now();
      if (e.type === 'llm_delta' && e.answer === true && e.content && first === 0) first = performance.now();
    },
  });
  if (first === 0) throw new Error('marshal: no answer delta');
  return { fromStartMs: first - started, fromSynthesisMs: first - synthesisAt };
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The minimal client: the same calls, no retries, no validation, SSE read by hand. */
async function minimalRun(url: string): Promise<Ttft> {
  const started = performance.now();
  const decomposition = (await (
    await post(url, {
      model: 'bench/model',
      messages: [
        {
          role: 'user',
          content: fillTemplate(DEFAULT_PROMPTS.decompose, { user_input: QUESTION, num_agents: N }),
        },
      ],
    })
  ).json()) as { choices: Array<{ message: { content: string } }> };
  const subs = JSON.parse(decomposition.choices[0]!.message.content) as string[];
  const answers = await Promise.all(
    subs.map(async (q) => {
      const messages: unknown[] = [{ role: 'user', content: q }];
      const first = (await (await post(url, { model: 'bench/model', messages })).json()) as {
        choices: Array<{ message: { tool_calls: Array<{ id: string; function: { name: string } }> } }>;
      };
      const call = first.choices[0]!.message.tool_calls[0]!;
      messages.push(
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '42' },
      );
      const second = (await (await post(url, { model: 'bench/model', messages })).json()) as {
        choices: Array<{ message: { content: string } }>;
      };
      return second.choices[0]!.message.content;
    }),
  );
  const synthesisAt = performance.now();
  const response = await post(url, {
    model: 'bench/model',
    stream: true,
    messages: [
      {
        role: 'user',
        content: fillTemplate(DEFAULT_PROMPTS.synthesize, {
          question: QUESTION,
          num_responses: answers.length,
          agent_responses: answers.join('\n\n'),
        }),
      },
    ],
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let first = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut = buffer.indexOf('\n\n');
    while (cut !== -1) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.startsWith('data: ') ? event.slice(6) : '';
      if (first === 0 && data && data !== '[DONE]') {
        const delta = (JSON.parse(data) as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]
          ?.delta;
        if (delta?.content) first = performance.now();
      }
      cut = buffer.indexOf('\n\n');
    }
  }
  if (first === 0) throw new Error('minimal: no content delta');
  return { fromStartMs: first - started, fromSynthesisMs: first - synthesisAt };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const latency = Number(process.argv[2] ?? 20);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', serverCode(latency)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    const lines = createInterface({ input: child.stdout });
    const [url] = (await once(lines, 'line')) as [string];
    const m: Ttft[] = [];
    const n: Ttft[] = [];
    await marshalRun(url); // warm-up of both paths
    await minimalRun(url);
    for (let i = 0; i < RUNS; i++) {
      m.push(await marshalRun(url));
      n.push(await minimalRun(url));
    }
    const row = (what: keyof Ttft) => {
      const a = median(m.map((x) => x[what]));
      const b = median(n.map((x) => x[what]));
      return `${what.padEnd(16)} marshal ${a.toFixed(1).padStart(7)} ms  minimal ${b.toFixed(1).padStart(7)} ms  ratio ${(a / b).toFixed(3)}`;
    };
    console.log(
      `heavy TTFT, N=${N}, L=${latency} ms per reply, pieces ${PIECE_DELAY_MS} ms apart, median of ${RUNS}`,
    );
    console.log(row('fromStartMs'));
    console.log(row('fromSynthesisMs'));
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

await main();
