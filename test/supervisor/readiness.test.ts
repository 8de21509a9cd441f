import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, test } from 'node:test';
import type { ProbeResult } from '../../src/core/probe.ts';
import { spawnProcess } from '../../src/core/process.ts';
import { waitChildReady } from '../../src/supervisor/readiness.ts';
import { parseProcNetTcp, parseStatPgrp, portOwnership } from '../../src/supervisor/socket-owner.ts';
import { FIXTURE_SERVER, freePort, SYSTEM_PYTHON } from './helpers.ts';

const ownPgid = parseStatPgrp(readFileSync('/proc/self/stat', 'utf8')) ?? 0;

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.end());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function fixture(port: number, env: Record<string, string> = {}) {
  return spawnProcess([SYSTEM_PYTHON, FIXTURE_SERVER, '--port', String(port)], {
    env: { ...process.env, ...env },
  });
}

describe('socket owner (/proc)', () => {
  test('parses LISTEN sockets out of /proc/net/tcp', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0',
      '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0',
      '   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0',
    ].join('\n');
    assert.deepEqual(parseProcNetTcp(text, 4), [
      { inode: '12345', port: 8080, family: 4 },
      { inode: '777', port: 80, family: 4 },
    ]);
  });

  test('parses the process group out of /proc/<pid>/stat (names with spaces and parentheses)', () => {
    // A whole line, as the kernel writes it (the shared parser needs field 22, the start time).
    const tail = '4194304 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000000 200 18446744073709551615';
    assert.equal(parseStatPgrp(`123 (a b) c) S 1 456 456 0 -1 ${tail}`), 456);
    assert.equal(parseStatPgrp('123 (a b) c) S 1 456 456 0 -1'), undefined, 'a cut line is malformed');
  });

  test('owned by our group, foreign to another group, none when nothing listens', async () => {
    const port = await freePort();
    assert.deepEqual(await portOwnership(port, ownPgid), { status: 'none' });
    const server = await listen(port);
    try {
      assert.deepEqual(await portOwnership(port, ownPgid), { status: 'owned' });
      const other = await portOwnership(port, 999_999);
      assert.ok(other.status === 'foreign');
      assert.ok(other.holders.includes(process.pid));
    } finally {
      server.close();
    }
  });
});

describe('waitChildReady', () => {
  const http = { kind: 'http', path: '/system_stats' } as const;

  test('a fixture server becomes ready after K consecutive probes', async () => {
    const port = await freePort();
    const child = fixture(port);
    try {
      const r = await waitChildReady({ host: '127.0.0.1', port, health: http }, child.pid, {
        consecutive: 3,
        intervalMs: 30,
        timeoutMs: 15_000,
        exited: child.exited,
      });
      assert.ok(r.ok);
      assert.ok(r.attempts >= 3);
    } finally {
      await child.stop({ graceMs: 1000 });
    }
  });

  test('tcp readiness', async () => {
    const port = await freePort();
    const child = fixture(port);
    try {
      const r = await waitChildReady({ host: '127.0.0.1', port, health: { kind: 'tcp' } }, child.pid, {
        intervalMs: 30,
        timeoutMs: 15_000,
        exited: child.exited,
      });
      assert.ok(r.ok);
    } finally {
      await child.stop({ graceMs: 1000 });
    }
  });

  test('a server answering 500 is never ready (timeout)', async () => {
    const port = await freePort();
    const child = fixture(port, { FIXTURE_UNHEALTHY: '1' });
    try {
      const r = await waitChildReady({ host: '127.0.0.1', port, health: http }, child.pid, {
        intervalMs: 30,
        timeoutMs: 1500,
        exited: child.exited,
      });
      assert.ok(!r.ok && r.reason === 'timeout');
    } finally {
      await child.stop({ graceMs: 1000 });
    }
  });

  test('fails at once with reason exited when the child exits', async () => {
    const port = await freePort();
    const child = fixture(port, {
      FIXTURE_NO_LISTEN: '1',
      FIXTURE_EXIT_AFTER: '0.2',
      FIXTURE_EXIT_CODE: '3',
    });
    const r = await waitChildReady({ host: '127.0.0.1', port, health: http }, child.pid, {
      intervalMs: 30,
      timeoutMs: 60_000,
      exited: child.exited,
    });
    assert.ok(!r.ok && r.reason === 'exited');
    assert.equal((await child.exited).code, 3);
  });

  test('a stranger answering on the port does not make the child ready', async () => {
    const port = await freePort();
    const stranger = await listen(port);
    const child = fixture(port, { FIXTURE_NO_LISTEN: '1' });
    // Watch three probes answer (each one scans /proc, which takes its time on a loaded machine),
    // then stop: the outcome depends on what the probes saw, not on how fast they ran.
    const seen: ProbeResult[] = [];
    const stop = new AbortController();
    try {
      const r = await waitChildReady({ host: '127.0.0.1', port, health: { kind: 'tcp' } }, child.pid, {
        intervalMs: 30,
        timeoutMs: 120_000,
        exited: child.exited,
        signal: stop.signal,
        onProbe: (result) => {
          seen.push(result);
          if (seen.length === 3) stop.abort();
        },
      });
      assert.ok(!r.ok && r.reason === 'aborted', JSON.stringify(r));
      assert.equal(seen.length, 3);
      for (const probe of seen) {
        assert.ok(!probe.ok);
        assert.match(probe.message ?? '', new RegExp(`held by pid ${process.pid}`));
      }
    } finally {
      stranger.close();
      await child.stop({ graceMs: 1000 });
    }
  });
});
