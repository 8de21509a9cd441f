import type { PlanRank } from '../../src/training/plan-schema.ts';

/**
 * A plan rank for launch tests: rank i on node `n<i>` reached over ssh at `host`, one slot,
 * Debian's python, workdir `/srv/n<i>`, shard [10 i, 10 i + 10) in batches of 5; `over`
 * replaces any field.
 */
export function sshRank(i: number, host: string, over: Partial<PlanRank> = {}): PlanRank {
  return {
    rank: i,
    node: `n${i}`,
    host,
    transport: 'ssh',
    local_rank: 0,
    local_world_size: 1,
    python: '/usr/bin/python3',
    workdir: `/srv/n${i}`,
    throughput: 1,
    share: 0.5,
    start: i * 10,
    end: i * 10 + 10,
    examples: 10,
    batch_size: 5,
    ...over,
  };
}
