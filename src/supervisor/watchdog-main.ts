/**
 * The watchdog program (see watchdog.ts): `node watchdog-main.js marshal-watchdog --supervisor
 * <pid> --grace-ms <ms>`. It reads one JSON message per line on stdin from its supervisor:
 *
 *   {"op": "track", "gen": N, "spec": {cookie, cgroup, pid, startTime}}   a tree to guard
 *   {"op": "untrack", "gen": N}                                           that tree is gone
 *
 * When stdin closes (the supervisor exited, however it died) it stops every tree still tracked
 * (SIGTERM, `--grace-ms`, SIGKILL until none is left; cgroup.kill where there is a leaf), removes
 * their cgroup leaves and exits. A supervisor that stopped its children cleanly has untracked
 * them all, so the watchdog then exits at once: it outlives marshal only while it has work.
 */
import { createInterface } from 'node:readline';
import { ChildTree, type TreeSpec } from './descendants.ts';

const args = process.argv.slice(2);
const graceArg = args.indexOf('--grace-ms');
const graceMs = graceArg >= 0 ? Number(args[graceArg + 1]) : 2000;
const trees = new Map<number, ChildTree>();

/** While the supervisor lives, remember members of /proc-tracked trees (they may be reparented later). */
const refresh = setInterval(() => {
  for (const tree of trees.values()) if (tree.mode === 'proc') tree.members({ cookies: false });
}, 1000);

function onLine(line: string): void {
  let msg: { op?: string; gen?: number; spec?: TreeSpec };
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  if (typeof msg.gen !== 'number') return;
  if (msg.op === 'track' && msg.spec && typeof msg.spec.cookie === 'string') {
    trees.set(msg.gen, ChildTree.fromSpec(msg.spec));
  } else if (msg.op === 'untrack') {
    trees.delete(msg.gen);
  }
}

async function onSupervisorGone(): Promise<void> {
  clearInterval(refresh);
  await Promise.all(
    [...trees.values()].map(async (tree) => {
      try {
        await tree.terminate({
          graceMs: Number.isFinite(graceMs) ? graceMs : 2000,
          label: 'orphaned child tree',
        });
      } catch {
        // something survived SIGKILL for 30 s (uninterruptible): nothing more we can do
      }
      tree.dispose();
    }),
  );
}

const rl = createInterface({ input: process.stdin });
rl.on('line', onLine);
rl.on('close', () => {
  void onSupervisorGone();
});
