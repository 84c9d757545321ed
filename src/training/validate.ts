/**
 * Checks of a spec's data against its model that the schema cannot express (they relate two fields). Pure: no
 * engine, no I/O, so the runtime can refuse a job at submit time instead of failing it later in a worker.
 */
import type { JobSpec } from '../spec/job-spec.js';

/** The error message, or null when the rows fit the model. */
export function checkRows(x: number[][], y: number[][], inputDim: number, outputDim: number): string | null {
  if (x.length === 0) return 'data.x has no rows; at least one is needed';
  if (x.length !== y.length) return `data.x has ${x.length} rows but data.y has ${y.length}; they must match`;
  for (let i = 0; i < x.length; i++) {
    if (!Array.isArray(x[i]) || x[i]!.length !== inputDim) {
      return `data.x row ${i} has ${x[i]?.length ?? 0} columns but the model expects inputDim=${inputDim}`;
    }
    if (!Array.isArray(y[i]) || y[i]!.length !== outputDim) {
      return `data.y row ${i} has ${y[i]?.length ?? 0} columns but the model expects outputDim=${outputDim}`;
    }
  }
  return null;
}

export function checkSpecData(spec: JobSpec): string | null {
  if (spec.data.kind === 'inline') return checkRows(spec.data.x, spec.data.y, spec.model.inputDim, spec.model.outputDim);
  return null;
}

export function checkDatasetFits(
  spec: JobSpec,
  dataset: { id: string; inputDim: number; outputDim: number; rows: number },
): string | null {
  if (dataset.inputDim !== spec.model.inputDim || dataset.outputDim !== spec.model.outputDim) {
    return (
      `dataset ${dataset.id} has ${dataset.inputDim} input and ${dataset.outputDim} target columns but the model ` +
      `expects inputDim=${spec.model.inputDim} and outputDim=${spec.model.outputDim}`
    );
  }
  if (dataset.rows === 0) return `dataset ${dataset.id} has no rows`;
  return null;
}

/** Multiply-adds of one forward pass per row: what a prediction costs. */
export function forwardCostPerRow(spec: JobSpec): number {
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
