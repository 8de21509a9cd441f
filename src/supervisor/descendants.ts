/**
 * Every descendant of a supervised child, whatever its process group or session: a `ChildTree`
 * is one child generation's tree, stopped as a whole (SIGTERM to every member, a grace period,
 * SIGKILL until none is left). Membership comes from, in order of strength:
 *
 * 1. its cgroup v2 leaf (cgroup.ts), when the hierarchy is writable: the kernel's record, no gap
 *    (then it is the only source: reading one small file is all a poll costs);
 * Without a leaf:
 * 2. the child's process group (pgid = the child's pid, as spawnProcess starts it);
 * 3. a per-generation cookie in the environment (`MARSHAL_TREE_ID=<128 random bits>`), inherited
 *    by every descendant that does not wipe its environment: it finds a double-forked, setsid()
 *    daemon after it was reparented to init (Jenkins' ProcessTreeKiller uses the same idea with
 *    BUILD_ID); read from /proc/<pid>/environ, so only processes we may inspect are found;
 * 4. parent links (/proc/<pid>/stat ppid) below any member, and members seen before (pid + start
 *    time, so a recycled pid is never taken for one).
 *
 * Without a cgroup, a descendant that leaves the session AND clears its environment AND was never
 * seen while its parent chain was intact escapes; marshal cannot become a child subreaper
 * (prctl(PR_SET_CHILD_SUBREAPER) needs a native addon, and a shim process between marshal and the
 * child would change the child's pid and exit status), so that gap is documented, not hidden.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sleep } from '../core/async.ts';
import { killProcessGroup, type TerminationTarget, terminateTarget } from '../core/process-group.ts';
import { listProcStats, type ProcStat, readProcStat } from '../core/process-identity.ts';
import { CgroupLeaf } from './cgroup.ts';

/** The environment variable holding a generation's cookie. */
export const TREE_COOKIE_VAR = 'MARSHAL_TREE_ID';

/** How a tree is tracked: `cgroup` (leaf + /proc) or `proc` (/proc only). */
export type TreeMode = 'cgroup' | 'proc';

/** What identifies one child's tree (also what the watchdog is told, as JSON). */
export interface TreeSpec {
  cookie: string;
  cgroup: string | null;
  pid: number | null;
  startTime: number | null;
}

/** One child generation's process tree (see the module comment). */
export class ChildTree implements TerminationTarget {
  readonly cookie: string;
  #leaf: CgroupLeaf | null;
  #why: string | null;
  #pid: number | null = null;
  #startTime: number | null = null;
  /** Members seen so far: pid -> start time. */
  readonly #known = new Map<number, number>();

  /** Between polls while stopping: a leaf is one small file; a /proc scan reads every process. */
  get pollMs(): number {
    return this.#leaf ? 20 : 50;
  }

  private constructor(cookie: string, leaf: CgroupLeaf | null, why: string | null) {
    this.cookie = cookie;
    this.#leaf = leaf;
    this.#why = why;
  }

  /**
   * A new tree for generation `tag`; with `cgroup: true` it gets a cgroup v2 leaf when the
   * hierarchy is writable (else `fallbackReason` says why not).
   */
  static create(tag: string, { cgroup }: { cgroup: boolean }): ChildTree {
    const cookie = randomBytes(16).toString('hex');
    if (!cgroup) return new ChildTree(cookie, null, 'cgroup tracking is off');
    const leaf = CgroupLeaf.create(tag);
    if ('unavailable' in leaf) return new ChildTree(cookie, null, leaf.unavailable);
    return new ChildTree(cookie, leaf, null);
  }

  /** The tree a spec describes (the watchdog's view of a tree it did not start). */
  static fromSpec(spec: TreeSpec): ChildTree {
    const tree = new ChildTree(spec.cookie, spec.cgroup ? CgroupLeaf.at(spec.cgroup) : null, null);
    if (spec.pid !== null) tree.attach(spec.pid, spec.startTime);
    return tree;
  }

  get mode(): TreeMode {
    return this.#leaf ? 'cgroup' : 'proc';
  }

  /** Why there is no cgroup leaf (null when there is one). */
  get fallbackReason(): string | null {
    return this.#why;
  }

  get spec(): TreeSpec {
    return {
      cookie: this.cookie,
      cgroup: this.#leaf?.path ?? null,
      pid: this.#pid,
      startTime: this.#startTime,
    };
  }

  /** The variables the child must get (its cookie). */
  env(): Record<string, string> {
    return { [TREE_COOKIE_VAR]: this.cookie };
  }

  /**
   * The `around` hook of spawnProcess: spawns inside the leaf; when the leaf refuses us (EACCES,
   * EBUSY, ...) it is dropped and the child is spawned without it (mode becomes `proc`).
   */
  readonly around = <T>(spawnNow: () => T): T => {
    const leaf = this.#leaf;
    if (!leaf) return spawnNow();
    let entered = false;
    try {
      return leaf.spawnInside(() => {
        entered = true;
        return spawnNow();
      });
    } catch (err) {
      if (entered) throw err;
      this.#why = `cannot enter ${leaf.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      leaf.remove();
      this.#leaf = null;
      return spawnNow();
    }
  };

  /** Records the child (the tree's root) once spawned. */
  attach(pid: number, startTime: number | null): void {
    this.#pid = pid;
    this.#startTime = startTime;
    if (startTime !== null) this.#known.set(pid, startTime);
  }

  /**
   * Live members, this process excluded. `cookies` also scans every process's environment for the
   * cookie (done whenever signals are sent; the polls in between follow what that found).
   */
  members({ cookies = true }: { cookies?: boolean } = {}): number[] {
    // In a leaf the kernel keeps the list (forks included; leaving it takes a deliberate write to
    // another cgroup.procs): one small file instead of a scan of every process.
    if (this.#leaf && !this.#leaf.selfInside) return this.#leaf.members();
    const table = listProcStats() ?? new Map<number, ProcStat>();
    const found = new Set<number>();
    const add = (pid: number): void => {
      const e = table.get(pid);
      if (e?.live && pid !== process.pid && pid > 1) found.add(pid);
    };
    const leader = this.#pid === null ? undefined : table.get(this.#pid);
    const leaderForeign =
      leader?.live === true && this.#startTime !== null && leader.startTime !== this.#startTime;
    if (leader && !leaderForeign) add(leader.pid);
    for (const [pid, start] of this.#known) if (table.get(pid)?.startTime === start) add(pid);
    for (const pid of this.#leaf?.members() ?? []) add(pid);
    const needle = Buffer.from(`\0${TREE_COOKIE_VAR}=${this.cookie}\0`);
    const first = Buffer.from(`${TREE_COOKIE_VAR}=${this.cookie}\0`);
    for (const e of table.values()) {
      if (!e.live || found.has(e.pid)) continue;
      // pgid members: a pid stays reserved while it names a group, so these are the child's.
      if (this.#pid !== null && !leaderForeign && e.pgrp === this.#pid) add(e.pid);
      else if (cookies && e.pid !== process.pid && hasCookieAnywhere(e.pid, needle, first)) add(e.pid);
    }
    // Everything below a member is a member.
    const kids = new Map<number, number[]>();
    for (const e of table.values()) {
      if (!e.live) continue;
      const list = kids.get(e.ppid);
      if (list) list.push(e.pid);
      else kids.set(e.ppid, [e.pid]);
    }
    const queue = [...found];
    for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
      for (const k of kids.get(pid) ?? []) {
        if (found.has(k) || k === process.pid) continue;
        found.add(k);
        queue.push(k);
      }
    }
    for (const pid of found) {
      const e = table.get(pid);
      if (e) this.#known.set(pid, e.startTime);
    }
    return [...found].sort((a, b) => a - b);
  }

  /** Sends `sig` to every member: the leaf (cgroup.kill for SIGKILL), the group, each pid. */
  signal(sig: NodeJS.Signals): void {
    this.#leaf?.signal(sig);
    if (this.#pid !== null && this.#pid > 1) {
      try {
        killProcessGroup(this.#pid, sig);
      } catch {
        // EPERM: not ours
      }
    }
    for (const pid of this.members()) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    }
  }

  /**
   * True while a member runs, as far as the last full scan found them (the cheap check polled
   * while stopping, after `signal` has scanned for cookies).
   */
  alive(): boolean {
    return this.members({ cookies: false }).length > 0;
  }

  /** True while any member runs: a full scan, cookies included. */
  hasMembers(): boolean {
    return this.members().length > 0;
  }

  /**
   * SIGTERM to every member, `graceMs`, SIGKILL until none is left (bounded; see
   * terminateTarget). `leaderExited` defaults to polling for the root's exit.
   */
  terminate({
    graceMs,
    leaderExited,
    label = 'child tree',
  }: {
    graceMs: number;
    leaderExited?: Promise<unknown>;
    label?: string;
  }): Promise<{ forced: boolean }> {
    return terminateTarget(this, leaderExited ?? this.#rootGone(), { graceMs, label });
  }

  async #rootGone(): Promise<void> {
    const pid = this.#pid;
    if (pid === null) return;
    for (;;) {
      const e = readProcStat(pid);
      if (!e?.live || (this.#startTime !== null && e.startTime !== this.#startTime)) return;
      await sleep(this.pollMs);
    }
  }

  /** Removes the leaf once empty; false when it could not be removed (still populated). */
  dispose(): boolean {
    return this.#leaf?.remove() ?? true;
  }
}

function hasCookieAnywhere(pid: number, needle: Buffer, first: Buffer): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`);
    return env.includes(needle) || env.subarray(0, first.length).equals(first);
  } catch {
    return false;
  }
}
