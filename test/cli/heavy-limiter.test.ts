import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeavyResult } from '../../src/agents/run-heavy.ts';
import { type FakeReply, type FakeServerOptions, startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runCli } from '../helpers/run-cli.ts';
import { runMain } from '../helpers/run-main.ts';

const N = 32;
/** Long enough that most agents are still in flight when the retries of the first 429s come. */
const AGENT_DELAY_MS = 1000;
const SUBS = Array.from({ length: N }, (_, i) => `Sub-question number ${i + 1}?`);

/** Decomposition -> 32 sub-questions; each agent answers after 100 ms (so many are in flight); synthesis. */
function script(): (req: { body: unknown }) => FakeReply {
  return (req) => {
    const text = JSON.stringify(req.body);
    if (text.includes('orchestrator')) return { content: JSON.stringify(SUBS) };
    if (text.includes('research agents each investigated')) return { content: 'FINAL' };
    const i = SUBS.findIndex((s) => text.includes(s));
    return { delayMs: AGENT_DELAY_MS, content: `answer ${i + 1}` };
  };
}

async function heavyAgainst(options: FakeServerOptions, extraArgs: string[], inProcess: boolean) {
  const server = await startFakeOpenAIServer(script(), options);
  try {
    const args = ['heavy', '--base-url', server.url, '-n', String(N), '--json', ...extraArgs, 'Q?'];
    const r = inProcess
      ? await runMain(args, { env: { NO_COLOR: '1' } })
      : await runCli(args, { env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeoutMs: 240_000 });
    return { r, server: { throttled: server.throttled, maxInFlight: server.maxInFlight } };
  } finally {
    await server.close();
  }
}

describe('heavy against an endpoint that answers 429 above 8 requests in flight', () => {
  it('heavy -n 32 (the real binary): every agent ok, the answer synthesised', async () => {
    const { r, server } = await heavyAgainst({ throttleAbove: 8 }, [], false);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as HeavyResult;
    assert.deepEqual(
      result.agents.filter((a) => a.status !== 'ok').map((a) => `${a.id}: ${a.status} ${a.error?.message}`),
      [],
    );
    assert.equal(result.agents.length, N);
    assert.equal(result.answer, 'FINAL');
    assert.ok(server.throttled > 0, 'the server throttled (else the test proves nothing)');
  });

  it('with Retry-After: 1 on the 429s, every agent ok too', async () => {
    const { r, server } = await heavyAgainst(
      { throttleAbove: 8, throttleHeaders: { 'retry-after': '1' } },
      [],
      true,
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as HeavyResult;
    assert.equal(result.agents.filter((a) => a.status === 'ok').length, N);
    assert.ok(server.throttled > 0);
  });

  it('--concurrency 4 keeps at most 4 requests in flight: no 429 at all', async () => {
    const { r, server } = await heavyAgainst({ throttleAbove: 8 }, ['--concurrency', '4'], true);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as HeavyResult;
    assert.equal(result.agents.filter((a) => a.status === 'ok').length, N);
    assert.equal(server.throttled, 0);
    assert.equal(server.maxInFlight, 4);
  });

  it('--concurrency is checked like every number option', async () => {
    const r = await runMain(['heavy', '--base-url', 'http://127.0.0.1:9/v1', '--concurrency', '0', 'q'], {
      env: {},
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--concurrency must be an integer from 1 to 1024, got "0"/);
  });
});
