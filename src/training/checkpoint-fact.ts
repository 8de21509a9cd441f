/**
 * The checkpoint directory as it is now (effectful): confined to the cluster directory or an
 * allowed root, checked through its nearest existing parent when it does not exist yet, with
 * writability (access W_OK) and free space (statfs).
 */
import { constants } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Cluster, resolveClusterPath } from './cluster.ts';

export interface CheckpointFact {
  dir: string;
  exists: boolean;
  /** The directory itself, or its nearest existing parent when it does not exist yet. */
  nearestExisting: string;
  writable: boolean;
  freeBytes: number | null;
  error?: string;
}

/** Reads the checkpoint fact for `userPath` (the `checkpointDir` setting); a path escape throws (exit 2). */
export async function checkpointFact(cluster: Cluster, userPath: string): Promise<CheckpointFact> {
  const dir = await resolveClusterPath(cluster.dir, cluster.allowedRoots, userPath, 'checkpointDir');
  let nearest = dir;
  let exists = true;
  for (;;) {
    try {
      const s = await stat(nearest);
      if (!s.isDirectory()) {
        return {
          dir,
          exists: false,
          nearestExisting: nearest,
          writable: false,
          freeBytes: null,
          error: `${nearest} is not a directory`,
        };
      }
      break;
    } catch {
      exists = false;
      const parent = dirname(nearest);
      if (parent === nearest) break;
      nearest = parent;
    }
  }
  let writable = true;
  try {
    await access(nearest, constants.W_OK);
  } catch {
    writable = false;
  }
  let freeBytes: number | null = null;
  try {
    const fs = await statfs(nearest);
    freeBytes = Number(fs.bavail) * Number(fs.bsize);
  } catch {
    freeBytes = null;
  }
  return { dir, exists, nearestExisting: nearest, writable, freeBytes };
}
