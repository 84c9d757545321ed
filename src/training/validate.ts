/**
 * Checks of a spec's data against its model that the schema cannot express (they relate two fields). Pure: no
 * engine, no I/O, so the runtime can refuse a job at submit time instead of failing it later in a worker.
 */
import type { AnyJobSpec, JobSpec } from '../spec/job-spec.js';

/** The error message, or null when the rows fit the model. `where` names them in the message. */
export function checkRows(x: number[][], y: number[][], inputDim: number, outputDim: number, where = 'data'): string | null {
  if (x.length === 0) return `${where}.x has no rows; at least one is needed`;
  if (x.length !== y.length) return `${where}.x has ${x.length} rows but ${where}.y has ${y.length}; they must match`;
  for (let i = 0; i < x.length; i++) {
    if (!Array.isArray(x[i]) || x[i]!.length !== inputDim) {
      return `${where}.x row ${i} has ${x[i]?.length ?? 0} columns but the model expects inputDim=${inputDim}`;
    }
    if (!Array.isArray(y[i]) || y[i]!.length !== outputDim) {
      return `${where}.y row ${i} has ${y[i]?.length ?? 0} columns but the model expects outputDim=${outputDim}`;
    }
  }
  return null;
}

/**
 * Rows held out by a `{kind: "fraction"}` validation of n rows: floor(fraction * n + 0.5) (round half up, which
 * Python writes `int(fraction * n + 0.5)`). Valid when it leaves at least 1 row on each side.
 */
export function validationRowCount(fraction: number, n: number): number {
  return Math.floor(fraction * n + 0.5);
}

/** The error message, or null when holding out `fraction` of n rows leaves rows on both sides. */
export function checkValidationFraction(fraction: number, n: number, what = 'the data'): string | null {
  const k = validationRowCount(fraction, n);
  if (k < 1) {
    return `validation.fraction ${fraction} of ${what}'s ${n} rows holds out ${k} rows; at least 1 is needed (use fraction >= ${(0.5 / n).toPrecision(3)})`;
  }
  if (k > n - 1) {
    return `validation.fraction ${fraction} of ${what}'s ${n} rows holds out ${k} rows, leaving ${n - k} to train on; at least 1 is needed (use fraction < ${((n - 0.5) / n).toPrecision(3)})`;
  }
  return null;
}

/** Checks of the rows given in the spec itself (inline data, inline validation, a fraction of known rows). */
export function checkSpecData(spec: JobSpec): string | null {
  const { inputDim, outputDim } = spec.model;
  if (spec.data.kind === 'inline') {
    const problem = checkRows(spec.data.x, spec.data.y, inputDim, outputDim);
    if (problem) return problem;
  }
  const v = spec.training.validation;
  if (v?.kind === 'inline') {
    const problem = checkRows(v.x, v.y, inputDim, outputDim, 'training.validation');
    if (problem) return problem;
  }
  if (v?.kind === 'fraction') {
    const n = spec.data.kind === 'inline' ? spec.data.x.length : spec.data.kind === 'random' ? spec.data.n : null;
    if (n !== null) return checkValidationFraction(v.fraction, n);
  }
  return null;
}

/**
 * A dataset the job trains on (`data`) or validates on (`training.validation`) against the model; for the
 * training dataset also the validation fraction against its row count.
 */
export function checkDatasetFits(
  spec: AnyJobSpec,
  dataset: { id: string; inputDim: number; outputDim: number; rows: number },
  role: 'data' | 'validation' = 'data',
): string | null {
  if (dataset.inputDim !== spec.model.inputDim || dataset.outputDim !== spec.model.outputDim) {
    return (
      `${role === 'validation' ? 'validation ' : ''}dataset ${dataset.id} has ${dataset.inputDim} input and ${dataset.outputDim} target columns but the model ` +
      `expects inputDim=${spec.model.inputDim} and outputDim=${spec.model.outputDim}`
    );
  }
  if (dataset.rows === 0) return `${role === 'validation' ? 'validation ' : ''}dataset ${dataset.id} has no rows`;
  const v = spec.training.validation;
  if (role === 'data' && v?.kind === 'fraction') return checkValidationFraction(v.fraction, dataset.rows, `dataset ${dataset.id}`);
  return null;
}

/** The state dict a model spec produces: PyTorch names and shapes (what a checkpoint of such a job holds). */
export function stateDictShapes(model: JobSpec['model']): Record<string, number[]> {
  if (model.kind === 'linear_regression') return { weight: [model.outputDim, model.inputDim], bias: [model.outputDim] };
  const bias = model.bias ?? false;
  return {
    '0.weight': [model.hiddenDim, model.inputDim],
    ...(bias ? { '0.bias': [model.hiddenDim] } : {}),
    '2.weight': [model.outputDim, model.hiddenDim],
    ...(bias ? { '2.bias': [model.outputDim] } : {}),
  };
}

/**
 * Whether weights of shapes `source` (a state dict's names and shapes: from the source job's model spec via
 * stateDictShapes, or from its checkpoint) can start `spec`'s model. The message names every missing, unexpected
 * and mis-shaped tensor.
 */
export function checkWarmStartShapes(spec: AnyJobSpec, source: Record<string, readonly number[]>, from = 'the warmStart checkpoint'): string | null {
  const want = stateDictShapes(spec.model);
  const problems: string[] = [];
  const missing = Object.keys(want).filter((k) => !(k in source));
  const unexpected = Object.keys(source).filter((k) => !(k in want));
  if (missing.length) problems.push(`missing ${missing.map((k) => `"${k}"`).join(', ')}`);
  if (unexpected.length) problems.push(`unexpected ${unexpected.map((k) => `"${k}"`).join(', ')}`);
  for (const [k, shape] of Object.entries(want)) {
    const got = source[k];
    if (got && got.join(',') !== shape.join(',')) problems.push(`"${k}" is [${got.join(', ')}] but this model's is [${shape.join(', ')}]`);
  }
  if (problems.length === 0) return null;
  return `${from} does not fit this model (${spec.model.kind}): ${problems.join('; ')}`;
}

/** Multiply-adds of one forward pass per row: what a prediction costs. */
export function forwardCostPerRow(spec: AnyJobSpec): number {
  const m = spec.model;
  return m.kind === 'two_layer_net' ? m.inputDim * m.hiddenDim + m.hiddenDim * m.outputDim : m.inputDim * m.outputDim;
}

/**
 * Why a prediction input is unusable, or null. Message wording names the expected dimension, e.g.
 * "x has 3 columns but the model expects inputDim=1".
 */
export function checkPredictInput(x: unknown, inputDim: number): string | null {
  if (!Array.isArray(x) || x.length === 0) return 'x must be a non-empty array of rows';
  for (let i = 0; i < x.length; i++) {
    const row = x[i];
    if (!Array.isArray(row)) return `x row ${i} is not an array`;
    if (row.length !== inputDim) {
      return i === 0 || x.every((r) => Array.isArray(r) && r.length === row.length)
        ? `x has ${row.length} columns but the model expects inputDim=${inputDim}`
        : `x row ${i} has ${row.length} columns but the model expects inputDim=${inputDim}`;
    }
    for (let j = 0; j < row.length; j++) {
      if (typeof row[j] !== 'number' || !Number.isFinite(row[j])) return `x[${i}][${j}] is not a finite number`;
    }
  }
  return null;
}
