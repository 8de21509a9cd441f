/**
 * Deadlines under garbage collection (issue 8 §1). The CLI runs in a child process started with
 * `--expose-gc` and a preload that churns and calls gc() every few milliseconds; some agents hang
 * on the fake endpoint. The run must end at its deadline with the finished agents kept. On Node 20
 * a deadline made of `AbortSignal.timeout` inside `AbortSignal.any` is collected and never fires,
 * and the process then runs until the safety kill below.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { HeavyResult } from '../../src/agents/index.ts';
import { type FakeReply, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';
import { type NodeRun, runNode } from '../helpers/run-cli.ts';

const CHURN = fileURLToPath(new URL('../fixtures/agents/gc-churn.mjs', import.meta.url));
const DRIVER = fileURLToPath(new URL('../fixtures/agents/main-driver.ts', import.meta.url));
/** tsx by URL: the child runs in a temp dir, where a bare `tsx` would not resolve. */
const TSX = import.meta.resolve('tsx');
const SUBS = ['first angle?', 'second angle?', 'third angle?', 'fourth angle?'];
/** Safety bound only: far past every deadline under test; reaching it means a deadline never fired. */
const KILL_AFTER_MS = 45_000;

type Run = NodeRun;

function runUnderGc(args: string[], cwd: string): Promise<Run> {
  return runNode(['--expose-gc', '--import', TSX, '--import', CHURN, DRIVER, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: cwd, NO_COLOR: '1' },
    killAfterMs: KILL_AFTER_MS,
  });
}

function who(req: RecordedRequest): number | 'decompose' | 'combine' {
  const t = JSON.stringify(req.body);
  if (t.includes('orchestrator')) return 'decompose';
  if (t.includes('research agents each investigated')) return 'combine';
  return SUBS.findIndex((s) => t.includes(s));
}

/** Agents 1 and 2 answer, agents 3 and 4 hang forever. */
function halfHanging(req: RecordedRequest): FakeReply {
  const w = who(req);
  if (w === 'decompose') return { content: JSON.stringify(SUBS) };
  if (w === 'combine') return { content: 'COMBINED' };
  if (w === 0 || w === 1) return { content: `answer ${w + 1}` };
  return { hang: true };
}

describe('heavy deadlines under GC pressure (child process with --expose-gc and a churn loop)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-heavy-gc-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const flag of ['--timeout', '--agent-timeout'] as const) {
    // 6 s, not 2: the answering agents and the combine call must fit in the run's time even when a
    // loaded machine is slow to start the child (at 2 s a combine call was cut off under load).
    it(`${flag} 6 ends the run with the finished agents kept`, async () => {
      const server = await startFakeOpenAIServer(halfHanging);
      try {
        const r = await runUnderGc(
          ['heavy', '--base-url', server.url, '-n', '4', '--json', flag, '6', 'What is it?'],
          dir,
        );
        assert.equal(r.killed, false, `the deadline never fired; stderr:\n${r.stderr}`);
        assert.equal(r.code, 0, r.stderr);
        const result = JSON.parse(r.stdout) as HeavyResult;
        assert.deepEqual(
          result.agents.map((a) => a.status),
          ['ok', 'ok', 'timeout', 'timeout'],
        );
        assert.equal(result.answer, 'COMBINED');
      } finally {
        await server.close();
      }
    });
  }

  // Side by side: against an endpoint that never answers there is no race to win, only the
  // deadline to fire (the heavy runs above stay one at a time: their first agents must answer in time).
  describe('ask against a hung endpoint', { concurrency: true }, () => {
    for (const flag of ['--timeout', '--agent-timeout'] as const) {
      it(`ask ${flag} 2 against a hung endpoint ends with status timeout (exit 3)`, async () => {
        const server = await startFakeOpenAIServer(() => ({ hang: true }));
        try {
          const r = await runUnderGc(
            ['ask', '--base-url', server.url, '--json', flag, '2', 'What is it?'],
            dir,
          );
          assert.equal(r.killed, false, `the deadline never fired; stderr:\n${r.stderr}`);
          assert.equal(r.code, 3, r.stderr);
          assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'timeout');
        } finally {
          await server.close();
        }
      });
    }
  });
});
