import { ExitCode, MarshalError, sanitizeForTerminal } from '../core/index.ts';
import { calibrateNodes, calibrationSucceeded, TRAINING_ERRORS } from '../training/index.ts';
import type { CommandSpec } from './command.ts';
import { printJson, println } from './io.ts';
import {
  numberSetting,
  progress,
  requiredSetting,
  stringSetting,
  trainOptions,
  withFlags,
} from './train-common.ts';

export const trainCalibrateCommand: CommandSpec = {
  name: 'train calibrate',
  summary: "measure every node's training throughput (examples/s)",
  usage:
    'train calibrate --cluster <cluster.yaml> [--benchmark <script>] [--duration <s>] [--repeats <n>] [--remeasure <n>] [--json]',
  description: [
    'Runs a benchmark on every node, in its workdir with its python: nodes on different hosts in',
    'parallel, nodes sharing a host one after another. Each node runs --repeats times; the median',
    'is kept; a node whose repeats spread more than 20% runs a second round of --remeasure runs.',
    'The benchmark prints {"throughput","memory_gb","latency_ms"} as its last stdout line;',
    'the default is a small PyTorch training step shipped with marshal. A node that fails is',
    'reported with its reason. Save the --json output and pass it to `train plan --calibration`.',
  ].join('\n'),
  options: trainOptions(
    ['cluster', 'benchmark', 'durationS', 'repeats', 'remeasureRepeats', 'benchmarkTimeoutS'],
    {
      json: { type: 'boolean', description: 'print the calibration document as JSON' },
    },
  ),
  examples: [
    'marshal train calibrate --cluster cluster.yaml --json > calibration.json',
    'marshal train calibrate --cluster cluster.yaml --benchmark bench.py --duration 10',
  ],
  exitCodes: [
    [0, 'at least one node measured'],
    [1, 'every node failed'],
    [2, 'bad option or cluster file'],
  ],
  run: ({ values, io, signal }) =>
    withFlags(async () => {
      const cluster = requiredSetting(values, 'cluster');
      const benchmark = stringSetting(values, 'benchmark');
      const durationS = numberSetting(values, 'durationS');
      const repeats = numberSetting(values, 'repeats');
      const remeasureRepeats = numberSetting(values, 'remeasureRepeats');
      const benchmarkTimeoutS = numberSetting(values, 'benchmarkTimeoutS');
      const say = progress(io);
      const report = await calibrateNodes({
        cluster,
        ...(benchmark !== undefined ? { benchmark } : {}),
        ...(durationS !== undefined ? { durationS } : {}),
        ...(repeats !== undefined ? { repeats } : {}),
        ...(remeasureRepeats !== undefined ? { remeasureRepeats } : {}),
        ...(benchmarkTimeoutS !== undefined ? { benchmarkTimeoutS } : {}),
        cwd: io.cwd,
        env: io.env,
        signal,
        onNodeStart: (node) => say(`calibrating ${node}`),
      });
      if (values.json) printJson(io, report);
      else {
        for (const n of report.nodes) {
          const line =
            n.status === 'ok'
              ? `${n.node}: ${n.throughput.toFixed(2)} ex/s, ${n.latency_ms.toFixed(1)} ms/step, ${n.memory_gb.toFixed(2)} GiB`
              : `${n.node}: failed: ${n.reason}`;
          println(io.stdout, sanitizeForTerminal(line));
        }
      }
      if (!calibrationSucceeded(report)) {
        const err = new MarshalError(
          TRAINING_ERRORS.E_CALIBRATION_FAILED,
          'calibration failed on every node',
        );
        println(io.stderr, `marshal: ${err.message}`);
        return err.exitCode;
      }
      return ExitCode.ok;
    }),
};
