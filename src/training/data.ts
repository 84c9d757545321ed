/**
 * The training rows of a job as tensors. `random` draws x [n, inputDim] then y [n, outputDim] from N(0,1) with the
 * job's generator, BEFORE the model draws its weights: the tutorial's order (x, y, w1, w2). Inline and dataset
 * rows draw nothing, so the model's initialisation is the first thing drawn after manual_seed(seed), as in the
 * linear-regression tutorial (manual_seed(0), then nn.Linear).
 */
import { Generator, randn, randperm, Tensor, tensor } from '../engine/index.js';
import type { TrainableSpec } from '../spec/job-spec.js';
import type { TrainingData } from './protocol.js';
import { checkDatasetFits, checkRows, checkValidationFraction, validationRowCount } from './validate.js';

export interface Batch {
  x: Tensor;
  y: Tensor;
}

function fromRows(rows: number[][], width: number): Tensor {
  const out = new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) out.set(rows[i]!, i * width);
  return tensor(out, { shape: [rows.length, width] });
}

/**
 * Rows given apart from the spec (a dataset's, or a stored job's inline rows), checked against the model's widths.
 * Copies: the tensors own their storage, and the caller's buffers may be transferred or reused.
 */
function providedRows(rows: TrainingData | undefined, inputDim: number, outputDim: number, what: string): Batch {
  if (!rows) throw new InvalidDataError(`${what}: its rows were not provided to the trainer`);
  if (rows.x.length !== rows.n * inputDim || rows.y.length !== rows.n * outputDim) {
    throw new InvalidDataError(
      `${what} has ${rows.x.length / rows.n} input and ${rows.y.length / rows.n} target columns ` +
        `but the model expects inputDim=${inputDim} and outputDim=${outputDim}`,
    );
  }
  return {
    x: tensor(rows.x.slice(), { shape: [rows.n, inputDim] }),
    y: tensor(rows.y.slice(), { shape: [rows.n, outputDim] }),
  };
}

/** The training rows: drawn (`random`), from the spec (inline rows in it), or given apart (`rows`). */
export function buildData(spec: TrainableSpec, gen: Generator, rows?: TrainingData): Batch {
  const { inputDim, outputDim } = spec.model;
  switch (spec.data.kind) {
    case 'random':
      return {
        x: randn([spec.data.n, inputDim], { generator: gen }),
        y: randn([spec.data.n, outputDim], { generator: gen }),
      };
    case 'inline': {
      if (!('x' in spec.data)) return providedRows(rows, inputDim, outputDim, `the job's ${spec.data.rows} inline rows`);
      const problem = checkRows(spec.data.x, spec.data.y, inputDim, outputDim);
      if (problem) throw new InvalidDataError(problem);
      return { x: fromRows(spec.data.x, inputDim), y: fromRows(spec.data.y, outputDim) };
    }
    case 'dataset':
      return providedRows(rows, inputDim, outputDim, `dataset ${spec.data.id}`);
  }
}

/** The rows of `data` at `rows` (ascending indices), as new tensors. */
function takeRows(data: Batch, rows: Int32Array): Batch {
  const inDim = data.x.shape[1]!;
  const outDim = data.y.shape[1]!;
  const x = new Float32Array(rows.length * inDim);
  const y = new Float32Array(rows.length * outDim);
  rows.forEach((r, i) => {
    x.set(data.x.data.subarray(r * inDim, (r + 1) * inDim), i * inDim);
    y.set(data.y.data.subarray(r * outDim, (r + 1) * outDim), i * outDim);
  });
  return { x: tensor(x, { shape: [rows.length, inDim] }), y: tensor(y, { shape: [rows.length, outDim] }) };
}

export interface Split {
  train: Batch;
  /** Null when the spec names no validation data. */
  validation: Batch | null;
  /** For a `fraction` split: the held-out row indices of the data, ascending. */
  validationRows: Int32Array | null;
}

/**
 * The training and validation rows of a job. Without `training.validation` the data is returned as is (nothing is
 * drawn, so a job's numbers are those it had before validation existed).
 *
 * `{kind: "fraction"}`: k = floor(fraction * n + 0.5) rows are held out, chosen by a permutation drawn from a
 * generator of their own seeded with the job's seed, exactly as in PyTorch
 *   perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
 *   val = perm[:k].sort().values; train = perm[k:].sort().values
 * so the job's own generator (data, then weights) draws what it would draw without validation, and both parts keep
 * the data's row order (mini-batches take consecutive training rows).
 */
export function splitData(spec: TrainableSpec, data: Batch, validationRows?: TrainingData): Split {
  const v = spec.training.validation;
  if (!v) return { train: data, validation: null, validationRows: null };
  const { inputDim, outputDim } = spec.model;
  switch (v.kind) {
    case 'fraction': {
      const n = data.x.shape[0]!;
      const problem = checkValidationFraction(v.fraction, n);
      if (problem) throw new InvalidDataError(problem);
      const k = validationRowCount(v.fraction, n);
      const perm = randperm(n, new Generator(spec.seed));
      const val = perm.slice(0, k).sort();
      const train = perm.slice(k).sort();
      return { train: takeRows(data, train), validation: takeRows(data, val), validationRows: val };
    }
    case 'inline': {
      if (!('x' in v)) {
        const validation = providedRows(validationRows, inputDim, outputDim, `the job's ${v.rows} inline validation rows`);
        return { train: data, validation, validationRows: null };
      }
      const problem = checkRows(v.x, v.y, inputDim, outputDim, 'training.validation');
      if (problem) throw new InvalidDataError(problem);
      return { train: data, validation: { x: fromRows(v.x, inputDim), y: fromRows(v.y, outputDim) }, validationRows: null };
    }
    case 'dataset': {
      if (!validationRows) throw new InvalidDataError(`validation dataset ${v.id}: its rows were not provided to the trainer`);
      const m = validationRows.n;
      const fit = checkDatasetFits(
        spec,
        { id: v.id, rows: m, inputDim: m > 0 ? validationRows.x.length / m : inputDim, outputDim: m > 0 ? validationRows.y.length / m : outputDim },
        'validation',
      );
      if (fit) throw new InvalidDataError(fit);
      return {
        train: data,
        validation: {
          x: tensor(validationRows.x.slice(), { shape: [validationRows.n, inputDim] }),
          y: tensor(validationRows.y.slice(), { shape: [validationRows.n, outputDim] }),
        },
        validationRows: null,
      };
    }
  }
}

/**
 * Mini-batches IN ORDER (rows 0..b-1, b..2b-1, ...; the last one may be smaller), like a DataLoader with
 * shuffle=False: deterministic without consuming the generator, so a job is reproducible from its seed and a
 * resumed job needs no data-order state. Full batch (one batch, the tensors themselves) when batchSize is absent
 * or not smaller than n.
 *
 * Made one at a time as the loop reaches them: materialising them all up front cost ~800 bytes of heap per batch
 * (two tensors, their arrays and backing stores), so 1e6 rows with batchSize 1 exhausted a worker's heap before
 * the first step (issue 11).
 */
export function* batchesOf(data: Batch, batchSize?: number): IterableIterator<Batch> {
  const n = data.x.shape[0]!;
  if (batchSize === undefined || batchSize >= n) {
    yield data;
    return;
  }
  const inDim = data.x.shape[1]!;
  const outDim = data.y.shape[1]!;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    yield {
      x: tensor(data.x.data.slice(start * inDim, end * inDim), { shape: [end - start, inDim] }),
      y: tensor(data.y.data.slice(start * outDim, end * outDim), { shape: [end - start, outDim] }),
    };
  }
}

/** How many batches batchesOf yields. */
export function batchCount(n: number, batchSize?: number): number {
  return batchSize === undefined || batchSize >= n ? 1 : Math.ceil(n / batchSize);
}

/** The data does not fit the model: the job fails with code 'invalid_data'. */
export class InvalidDataError extends Error {
  override name = 'InvalidDataError';
}
