/**
 * A coordinator directory for the multi-host tests: the code to ship (the training fixture, the
 * rank-side helper, the calibration benchmark), a sync script that ships it with rsync over ssh
 * using marshal's ssh command (`MARSHAL_RSH`) to every target (`MARSHAL_SYNC_TARGETS`), and a
 * cluster file naming each netns host by its ssh alias, its workdir and its interface.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.ts';
import { memoryIo } from '../../helpers/memory-io.ts';
import type { NetnsHosts } from '../../helpers/netns-hosts.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/fixtures/training');

/** The sync script: plain rsync over marshal's ssh; `--update` keeps a copy edited on a host (newer there). */
export const SYNC_SCRIPT = `#!/bin/sh
set -eu
printf '%s\\n' "$MARSHAL_SYNC_TARGETS" | while IFS= read -r target; do
  [ -n "$target" ] || continue
  rsync -rlt --update -e "$MARSHAL_RSH" code/ "$target"
done
`;

export interface Coordinator {
  dir: string;
  env: Record<string, string | undefined>;
  writeCluster(
    launcher: string,
    options?: { port?: number; extraNodes?: string[]; nodes?: number[] },
  ): number;
  marshal(args: string[], signal?: AbortSignal): Promise<{ code: number; stdout: string; stderr: string }>;
  readJson<T>(path: string): T;
}

let port = 29_400;

export function makeCoordinator(hosts: NetnsHosts): Coordinator {
  const dir = join(hosts.dir, 'coordinator');
  const code = join(dir, 'code');
  mkdirSync(code, { recursive: true });
  copyFileSync(join(FIXTURES, 'train_tiny.py'), join(code, 'train_tiny.py'));
  copyFileSync(join(FIXTURES, 'bench_slow.py'), join(code, 'bench_slow.py'));
  for (const f of ['marshal_train.py', 'marshal_robust.py']) {
    if (existsSync(join(ROOT, 'python', f))) copyFileSync(join(ROOT, 'python', f), join(code, f));
  }
  writeFileSync(join(dir, 'sync.sh'), SYNC_SCRIPT);
  chmodSync(join(dir, 'sync.sh'), 0o755);
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, 'xdg'),
    NO_COLOR: '1',
  };
  const writeCluster: Coordinator['writeCluster'] = (launcher, options = {}) => {
    const p = options.port ?? port++;
    const which = options.nodes ?? hosts.hosts.map((_, i) => i);
    writeFileSync(
      join(dir, 'cluster.yaml'),
      [
        `launcher: ${launcher}`,
        // Rank 0's host: gloo's rendezvous, reached over the bridge.
        `master: { addr: ${hosts.hosts[which[0]!]!.addr}, port: ${p} }`,
        'ssh:',
        `  config: ${hosts.sshConfig}`,
        '  connect_timeout_s: 5',
        '  server_alive_interval_s: 1',
        '  server_alive_count_max: 2',
        'sync: { script: sync.sh }',
        `allowed_roots: [${hosts.dir}]`,
        'nodes:',
        ...which.map((i) => {
          const h = hosts.hosts[i]!;
          return `  - { name: ${h.alias}, host: ${h.alias}, slots: 1, python: /usr/bin/python3, workdir: ${h.workdir}, interface: ${h.ifname} }`;
        }),
        ...(options.extraNodes ?? []),
        '',
      ].join('\n'),
    );
    return p;
  };
  return {
    dir,
    env,
    writeCluster,
    async marshal(args, signal) {
      const mem = memoryIo({ cwd: dir, env });
      const exit = await main(args, mem.io, signal ? { signal } : {});
      return { code: exit, stdout: mem.stdout, stderr: mem.stderr };
    },
    readJson: <T>(p: string) => JSON.parse(readFileSync(join(dir, p), 'utf8')) as T,
  };
}
