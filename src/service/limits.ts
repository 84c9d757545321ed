/**
 * Checks a job spec against the configured limits before anything is queued: dimensions, parameter count, epochs,
 * rows, checkpoints and an estimate of the working set. Every message names the limit (and its environment
 * variable) so a user knows what was refused and an operator knows what to raise.
 */
import type { JobSpec, ModelSpec } from '../spec/job-spec.js';
import type { Limits } from './config.js';
import { LIMIT_VARIABLES } from './config.js';

export interface SpecIssue {
  path: string;
  message: string;
}

/** Dimensions of a stored dataset, as far as the checks need them. */
export interface DatasetShape {
  id: string;
  rows: number;
  inputDim: number;
  outputDim: number;
}

const F32 = 4;

export function countParameters(model: ModelSpec): number {
  if (model.kind === 'linear_regression') return model.inputDim * model.outputDim + model.outputDim;
  const biases = model.bias ? model.hiddenDim + model.outputDim : 0;
  return model.inputDim * model.hiddenDim + model.hiddenDim * model.outputDim + biases;
}

function dataRows(spec: JobSpec, dataset: DatasetShape | null): number {
  if (spec.data.kind === 'inline') return spec.data.x.length;
  if (spec.data.kind === 'random') return spec.data.n;
  return dataset?.rows ?? 0;
}

/**
 * Estimated peak bytes of one job in float32: the data set, parameters + gradients + optimizer state, and the
 * activations of one batch (forward values and their gradients). It is an estimate, not a measurement: its purpose
 * is to refuse specs that would need gigabytes before a worker tries to allocate them.
 */
export function estimateJobMemoryBytes(spec: JobSpec, dataset: DatasetShape | null = null): number {
  const { model, training } = spec;
  const rows = dataRows(spec, dataset);
  const batch = Math.min(training.batchSize ?? rows, rows);
  const params = countParameters(model);
  const opt = training.optimizer;
  const optimizerCopies =
    opt.kind === 'adam' ? (opt.amsgrad ? 3 : 2) : opt.momentum > 0 ? 1 : 0;
  const data = rows * (model.inputDim + model.outputDim);
  const hidden = model.kind === 'two_layer_net' ? model.hiddenDim : 0;
  // x batch, hidden pre-activation, clamp output, their gradients, prediction, residual and its gradient.
  const activations = batch * (model.inputDim + 4 * hidden + 3 * model.outputDim);
  return F32 * (data + params * (2 + optimizerCopies) + activations);
}

function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function over(value: number, limit: keyof Limits, limits: Limits, what: string): string {
  return `${what} is ${value}, above the limit of ${limits[limit]} (${LIMIT_VARIABLES[limit]})`;
}

/**
 * All the problems of a syntactically valid spec, in the order a user would fix them. `dataset` is the record a
 * `{kind: "dataset"}` spec refers to, or null when it does not exist (for this tenant).
 */
export function checkJobSpec(spec: JobSpec, limits: Limits, dataset: DatasetShape | null = null): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const { model, data, training } = spec;

  if (model.inputDim > limits.maxInputDim)
    issues.push({ path: 'model.inputDim', message: over(model.inputDim, 'maxInputDim', limits, 'inputDim') });
  if (model.kind === 'two_layer_net' && model.hiddenDim > limits.maxHiddenDim)
    issues.push({ path: 'model.hiddenDim', message: over(model.hiddenDim, 'maxHiddenDim', limits, 'hiddenDim') });
  if (model.outputDim > limits.maxOutputDim)
    issues.push({ path: 'model.outputDim', message: over(model.outputDim, 'maxOutputDim', limits, 'outputDim') });
  const params = countParameters(model);
  if (params > limits.maxParameters)
    issues.push({ path: 'model', message: over(params, 'maxParameters', limits, 'the parameter count') });
  if (training.epochs > limits.maxEpochs)
    issues.push({ path: 'training.epochs', message: over(training.epochs, 'maxEpochs', limits, 'epochs') });
  if (spec.checkpointEvery !== undefined) {
    const kept = Math.floor(training.epochs / spec.checkpointEvery);
    if (kept > limits.maxCheckpointsPerJob)
      issues.push({
        path: 'checkpointEvery',
        message: `checkpointEvery=${spec.checkpointEvery} with ${training.epochs} epochs keeps ${kept} checkpoints, above the limit of ${limits.maxCheckpointsPerJob} (MAX_CHECKPOINTS_PER_JOB); use checkpointEvery >= ${Math.ceil(training.epochs / limits.maxCheckpointsPerJob)}`,
      });
  }

  if (data.kind === 'inline') {
    issues.push(...checkInlineRows(data.x, data.y, model.inputDim, model.outputDim, limits, 'data'));
  } else if (data.kind === 'random') {
    if (data.n > limits.maxDatasetRows)
      issues.push({ path: 'data.n', message: over(data.n, 'maxDatasetRows', limits, 'n (rows)') });
  } else if (dataset === null) {
    issues.push({ path: 'data.id', message: `dataset ${data.id} not found` });
  } else {
    if (dataset.inputDim !== model.inputDim)
      issues.push({
        path: 'model.inputDim',
        message: `dataset ${dataset.id} has ${dataset.inputDim} input columns but model.inputDim is ${model.inputDim}`,
      });
    if (dataset.outputDim !== model.outputDim)
      issues.push({
        path: 'model.outputDim',
        message: `dataset ${dataset.id} has ${dataset.outputDim} target columns but model.outputDim is ${model.outputDim}`,
      });
  }

  // Only estimate memory for specs whose shapes are otherwise acceptable, so the message is about memory alone.
  if (issues.length === 0) {
    const estimate = estimateJobMemoryBytes(spec, dataset);
    if (estimate > limits.maxJobMemoryBytes)
      issues.push({
        path: 'model',
        message: `this job would need an estimated ${formatBytes(estimate)} (${estimate} bytes) of memory, above the limit of ${formatBytes(limits.maxJobMemoryBytes)} (MAX_JOB_MEMORY_BYTES=${limits.maxJobMemoryBytes}); use fewer rows, a smaller batchSize or a smaller model`,
      });
  }
  return issues;
}

/**
 * Inline rows (a job's data, a dataset upload, a prediction input): counts equal, every row as wide as expected.
 * Stops after a few bad rows so a ragged million-row upload does not produce a million messages.
 */
export function checkInlineRows(
  x: number[][],
  y: number[][] | null,
  inputDim: number | null,
  outputDim: number | null,
  limits: Limits,
  prefix: string,
): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const at = (name: string) => (prefix ? `${prefix}.${name}` : name);
  if (x.length === 0) issues.push({ path: at('x'), message: 'x must have at least one row' });
  if (x.length > limits.maxDatasetRows)
    issues.push({ path: at('x'), message: over(x.length, 'maxDatasetRows', limits, 'the number of rows') });
  if (y !== null && y.length !== x.length)
    issues.push({ path: at('y'), message: `x has ${x.length} rows but y has ${y.length}; they must have the same number of rows` });
  const MAX_ROW_ISSUES = 5;
  const widths = (rows: number[][], name: string, width: number | null, dimName: string) => {
    const expected = width ?? rows[0]?.length ?? 0;
    let bad = 0;
    for (let i = 0; i < rows.length && bad < MAX_ROW_ISSUES; i++) {
      if (rows[i].length !== expected) {
        bad++;
        issues.push({
          path: `${at(name)}.${i}`,
          message:
            width === null
              ? `${name}[${i}] has ${rows[i].length} values but ${name}[0] has ${expected}; every row must have the same width`
              : `${name}[${i}] has ${rows[i].length} values but ${dimName} is ${width}`,
        });
      }
    }
    if (width === null && expected === 0 && rows.length > 0)
      issues.push({ path: `${at(name)}.0`, message: `${name}[0] is empty; rows need at least one value` });
  };
  widths(x, 'x', inputDim, 'model.inputDim');
  if (y !== null) widths(y, 'y', outputDim, 'model.outputDim');
  return issues;
}
