/** The training subsystem: planning (pure), fact gathering, calibration and launching (effectful). */

export {
  AGGREGATION_RULE_PRECONDITIONS,
  AGGREGATION_RULES,
  type AggregateOptions,
  type AggregateResult,
  aggregate,
  isAggregationRule,
  referenceAggregate,
} from './aggregate/index.ts';
export {
  MAX_VECTORS_BYTES,
  parseVectors,
  type ReadVectorsOptions,
  readVectorsFile,
} from './aggregate/read-vectors.ts';
export { type Audit, type AuditRecord, auditPathFor, openAudit } from './audit.ts';
export {
  BenchmarkOutputSchema,
  type CalibrateOptions,
  type CalibrationReport,
  CalibrationReportSchema,
  calibrateCluster,
  DEFAULT_BENCHMARK,
  type NodeCalibration,
  parseBenchmarkOutput,
} from './calibrate.ts';
export { type ChunkPlan, chunk, MAX_LISTED_CHUNKS } from './chunk.ts';
export {
  type Cluster,
  type ClusterFile,
  ClusterFileSchema,
  type ClusterNode,
  LAUNCHERS,
  type Launcher,
  loadCluster,
  resolveClusterPath,
} from './cluster.ts';
export {
  CODE_HELPER,
  type CodeChange,
  codeFiles,
  compareManifests,
  type NodeManifest,
  probeCodeManifest,
} from './code-manifest.ts';
export {
  assessConsistency,
  type ConsistencyResult,
  DEFAULT_CONSISTENCY_THRESHOLD,
  type NodeHash,
} from './consistency.ts';
export { type DatasetFact, readDataset } from './dataset.ts';
export { TRAINING_ERRORS, type TrainingErrorCode } from './errors.ts';
export {
  type CalibrationSource,
  type Facts,
  type GatherOptions,
  gatherFacts,
} from './facts.ts';
export { launchCommands, rankEnv } from './launch/commands.ts';
export {
  initialLaunchState,
  type LaunchEffect,
  type LaunchEvent,
  type LaunchState,
  type ProcSlot,
  step as stepLaunch,
} from './launch/lifecycle.ts';
export {
  buildRunReport,
  degradedReasons,
  type RankObservation,
  type RankStall,
  type RunAttempt,
  type RunReport,
  type RunStatus,
  rankFlags,
  windowOutliers,
} from './launch/run-report.ts';
export { prepareProcesses, type RunOptions, runPlan } from './launch/runner.ts';
export {
  judgeStall,
  ProgressTracker,
  type RankProgress,
  type StallPolicy,
  type StallVerdict,
} from './launch/stall.ts';
export {
  type Heartbeat,
  type Metric,
  type MetricLineResult,
  parseMetricLine,
  type RankFailure,
  readHeartbeatLine,
  readMetricLine,
  readRankFailedLine,
} from './launch/telemetry.ts';
export { type Layout, type LayoutOptions, layoutRanks, type RankLayout } from './layout.ts';
export type { NodeProbe } from './node-probe.ts';
export { type BuildPlanOptions, buildPlan } from './plan.ts';
export { loadPlanKey, type PlanKey, planKeyPath } from './plan-key.ts';
export {
  PLAN_SCHEMA_VERSION,
  PLAN_SEAL_ALGORITHM,
  type Plan,
  type PlanBody,
  PlanSchema,
  planJsonSchema,
  sealPlan,
  verifyPlanSeal,
} from './plan-schema.ts';
export { CHECK_NAMES, type PreflightCheck, type PreflightResult, preflight } from './preflight.ts';
export { mad, median, robustOutliers } from './robust-stats.ts';
export {
  type BooleanSetting,
  checkNumberSetting,
  describeBounds,
  isTrainingSetting,
  type NumberSetting,
  type Setting,
  type StringSetting,
  settingDefault,
  TRAINING_SETTINGS,
  type TrainingSettingName,
} from './settings.ts';
export { type ShardResult, shard } from './shard.ts';
export { runSync, type SyncFact } from './sync.ts';
export { isSshDestination, prepareCommand, remoteCommand } from './transport.ts';
export {
  type CalibrateNodesOptions,
  calibrateNodes,
  calibrationSucceeded,
} from './workflows/calibrate-nodes.ts';
export { type CheckPlanOptions, checkPlan, type PlanCheck } from './workflows/check-plan.ts';
export {
  type DryRunProcess,
  type LaunchOutcome,
  type LaunchPlanOptions,
  launchPlan,
} from './workflows/launch-plan.ts';
export {
  type PlanCalibration,
  type PlannedTraining,
  type PlanTrainingOptions,
  type PlanTuning,
  planTraining,
} from './workflows/plan-training.ts';
export { MAX_PLAN_BYTES, type PlanFile, readPlanFile } from './workflows/read-plan-file.ts';
