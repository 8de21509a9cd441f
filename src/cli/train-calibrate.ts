import { ExitCode, MarshalError } from '../core/errors.ts';
import { sanitizeForTerminal } from '../core/log-hygiene.ts';
import { calibrateCluster } from '../training/calibrate.ts';
import { loadCluster } from '../training/cluster.ts';
import { TRAINING_ERRORS } from '../training/errors.ts';
import { type CommandSpec, numberOption, stringOption } from './command.ts';
import { printJson, println } from './io.ts';
import { progress, requiredOption } from './train-common.ts';

export const trainCalibrateCommand: CommandSpec = {
  name: 'train calibrate',
  summary: "measure every node's training throughput (examples/s)",
  usage:
    'train calibrate --cluster <cluster.yaml> [--benchmark <script>] [--duration <s>] [--repeats <n>] [--json]',
  description: [
    'Runs a benchmark on every node, in its workdir with its python: nodes on different hosts in',
    'parallel, nodes sharing a host one after another. Each node runs --repeats times; the median',
    'is kept. The benchmark prints {"throughput","memory_gb","latency_ms"} as its last stdout line;',
    'the default is a small PyTorch training step shipped with marshal. A node that fails is',
    'reported with its reason. Save the --json output and pass it to `train plan --calibration`.',
  ].join('\n'),
  options: {
    cluster: { type: 'string', valueName: 'file', description: 'cluster file (YAML or JSON)' },
    benchmark: {
      type: 'string',
      valueName: 'script',
      description: "benchmark script, relative to each node's workdir",
      defaultText: 'the shipped PyTorch step',
    },
    duration: { type: 'string', valueName: 's', description: 'seconds each run measures', defaultText: '5' },
    repeats: { type: 'string', valueName: 'n', description: 'runs per node (median kept)', defaultText: '3' },
    timeout: {
      type: 'string',
      valueName: 's',
      description: 'bound on one run',
      defaultText: 'duration + 120',
    },
    json: { type: 'boolean', description: 'print the calibration document as JSON' },
  },
  examples: [
    'marshal train calibrate --cluster cluster.yaml --json > calibration.json',
    'marshal train calibrate --cluster cluster.yaml --benchmark bench.py --duration 10',
  ],
  exitCodes: [
    [0, 'at least one node measured'],
    [1, 'every node failed'],
    [2, 'bad option or cluster file'],
  ],
  async run({ values, io, signal }) {
    const clusterPath = requiredOption(values, 'cluster', 'file');
    const durationS = numberOption(values, 'duration', { min: 0.01, max: 86_400 }) ?? 5;
    const repeats = numberOption(values, 'repeats', { min: 1, max: 100, integer: true }) ?? 3;
    const timeoutS = numberOption(values, 'timeout', { min: 1 });
    const benchmark = stringOption(values, 'benchmark');
    const cluster = await loadCluster(clusterPath, { cwd: io.cwd, env: io.env });
    const say = progress(io);
    const report = await calibrateCluster(cluster.nodes, {
      ...(benchmark ? { benchmark } : {}),
      durationS,
      repeats,
      ...(timeoutS ? { timeoutMs: timeoutS * 1000 } : {}),
      env: io.env,
      signal,
      onEvent: (e) => {
        if (e.type === 'node-start') say(`calibrating ${e.node}`);
      },
    });
    const anyOk = report.nodes.some((n) => n.status === 'ok');
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
    if (!anyOk) {
      const err = new MarshalError(TRAINING_ERRORS.E_CALIBRATION_FAILED, 'calibration failed on every node');
      println(io.stderr, `marshal: ${err.message}`);
      return err.exitCode;
    }
    return ExitCode.ok;
  },
};
