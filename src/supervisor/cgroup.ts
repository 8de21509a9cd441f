/**
 * cgroup v2 leaves for child trees: the kernel's own record of every descendant, whatever its
 * process group or session (a daemon that double-forks and calls setsid() stays in its cgroup),
 * and `cgroup.kill` (Linux 5.14+) kills all of them at once, forks included. systemd's
 * `KillMode=control-group` works this way.
 *
 * The child is born in its leaf: the supervisor moves itself into the leaf just around the
 * synchronous fork/exec (`spawnInside`) and back right after, so there is no window in which the
 * child could fork before it is tracked. Only a writable cgroup v2 hierarchy is used (unified or
 * hybrid mount, our own cgroup delegated to us or we are root); everything else is reported as
 * unavailable and the caller falls back to /proc walks (descendants.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive, readProcStat } from '../core/process-identity.ts';

/** Where this process sits in the cgroup v2 hierarchy, as a directory. */
export interface OwnCgroup {
  /** `<mount>/<our cgroup>`: the directory whose `cgroup.procs` lists us. */
  dir: string;
}

/** Our cgroup v2 directory, or the reason there is none (no cgroup2 mount, not reachable). */
export function ownCgroup(): OwnCgroup | { unavailable: string } {
  if (process.platform !== 'linux') return { unavailable: 'not Linux' };
  let self: string;
  let mountinfo: string;
  try {
    self = readFileSync('/proc/self/cgroup', 'utf8');
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return { unavailable: '/proc/self/cgroup is not readable' };
  }
  const line = self.split('\n').find((l) => l.startsWith('0::'));
  if (!line) return { unavailable: 'no cgroup v2 membership' };
  const path = line.slice(3);
  for (const m of mountinfo.split('\n')) {
    const [pre, post] = m.split(' - ');
    if (!pre || !post || post.split(' ')[0] !== 'cgroup2') continue;
    const fields = pre.split(' ');
    const root = unescapeMount(fields[3] ?? '');
    const mountPoint = unescapeMount(fields[4] ?? '');
    if (!mountPoint) continue;
    if (root === '/' || path === root || path.startsWith(`${root}/`)) {
      const rel = root === '/' ? path : path.slice(root.length);
      const dir = join(mountPoint, rel);
      if (existsSync(join(dir, 'cgroup.procs'))) return { dir };
    }
  }
  return { unavailable: 'no cgroup2 mount shows our cgroup' };
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

const LEAF_PREFIX = 'marshal.';

/** One cgroup v2 leaf holding one child tree. */
export class CgroupLeaf {
  readonly path: string;
  readonly #parent: string;
  /** Set when we could not move ourselves out again: then never cgroup.kill (it would kill us). */
  #selfInside = false;

  private constructor(path: string, parent: string) {
    this.path = path;
    this.#parent = parent;
  }

  /**
   * Creates `<our cgroup>/marshal.<pid>.<tag>`; returns the reason when cgroups cannot be used
   * (no cgroup v2, not writable). Empty leaves of supervisors that are gone are removed first.
   */
  static create(tag: string): CgroupLeaf | { unavailable: string } {
    const own = ownCgroup();
    if ('unavailable' in own) return own;
    removeStaleLeaves(own.dir);
    const path = join(own.dir, `${LEAF_PREFIX}${process.pid}.${tag}`);
    try {
      mkdirSync(path);
    } catch (err) {
      return { unavailable: `cannot create ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
    }
    return new CgroupLeaf(path, own.dir);
  }

  /** A leaf known by path (the watchdog, which did not create it). */
  static at(path: string): CgroupLeaf {
    return new CgroupLeaf(path, join(path, '..'));
  }

  /**
   * Runs `spawnNow` (a synchronous fork/exec) with this process inside the leaf, so the child
   * starts there, then moves this process back. Throws (before spawning) when the leaf does not
   * take us: the caller then spawns without it.
   */
  spawnInside<T>(spawnNow: () => T): T {
    const home = ownCgroup();
    const homeProcs =
      'unavailable' in home ? join(this.#parent, 'cgroup.procs') : join(home.dir, 'cgroup.procs');
    writeFileSync(join(this.path, 'cgroup.procs'), String(process.pid));
    try {
      return spawnNow();
    } finally {
      try {
        writeFileSync(homeProcs, String(process.pid));
      } catch {
        this.#selfInside = true;
      }
    }
  }

  /** True when we are stuck inside (then only per-pid signals are used). */
  get selfInside(): boolean {
    return this.#selfInside;
  }

  /** Pids in the leaf (zombies and this process excluded). */
  members(): number[] {
    let text: string;
    try {
      text = readFileSync(join(this.path, 'cgroup.procs'), 'utf8');
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const l of text.split('\n')) {
      const pid = Number(l);
      if (Number.isSafeInteger(pid) && pid > 1 && pid !== process.pid && !isZombie(pid)) out.push(pid);
    }
    return out;
  }

  /** Sends `sig` to every member; SIGKILL goes through `cgroup.kill` when the kernel has it. */
  signal(sig: NodeJS.Signals): void {
    if (sig === 'SIGKILL' && !this.#selfInside && this.#killAll()) return;
    for (const pid of this.members()) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    }
  }

  #killAll(): boolean {
    const file = join(this.path, 'cgroup.kill');
    if (!existsSync(file)) return false;
    try {
      writeFileSync(file, '1');
      return true;
    } catch {
      return false;
    }
  }

  /** Removes the leaf; false while it still holds processes. */
  remove(): boolean {
    try {
      rmdirSync(this.path);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }
}

function isZombie(pid: number): boolean {
  return readProcStat(pid)?.live !== true; // a zombie, dead, or gone
}

/** Removes empty `marshal.<pid>.*` leaves whose supervisor is gone (a populated one stays). */
export function removeStaleLeaves(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^marshal\.(\d+)\./.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isProcessAlive(pid)) continue;
    try {
      rmdirSync(join(dir, name));
    } catch {
      // still populated, or not ours to remove
    }
  }
}
