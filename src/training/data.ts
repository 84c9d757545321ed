/**
 * The training rows of a job as tensors. `random` draws x [n, inputDim] then y [n, outputDim] from N(0,1) with the
 * job's generator, BEFORE the model draws its weights: the tutorial's order (x, y, w1, w2). Inline and dataset
 * rows draw nothing, so the model's initialisation is the first thing drawn after manual_seed(seed), as in the
 * linear-regression tutorial (manual_seed(0), then nn.Linear).
 */
import { Generator, randn, Tensor, tensor } from '../engine/index.js';
import type { JobSpec } from '../spec/job-spec.js';
import type { TrainingData } from './protocol.js';
import { checkRows } from './validate.js';

export interface Batch {
  x: Tensor;
  y: Tensor;
}

function fromRows(rows: number[][], width: number): Tensor {
  const out = new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) out.set(rows[i]!, i * width);
  return tensor(out, { shape: [rows.length, width] });
}

export function buildData(spec: JobSpec, gen: Generator, rows?: TrainingData): Batch {
  const { inputDim, outputDim } = spec.model;
  switch (spec.data.kind) {
    case 'random':
      return {
        x: randn([spec.data.n, inputDim], { generator: gen }),
        y: randn([spec.data.n, outputDim], { generator: gen }),
      };
    case 'inline': {
      const problem = checkRows(spec.data.x, spec.data.y, inputDim, outputDim);
      if (problem) throw new InvalidDataError(problem);
      return { x: fromRows(spec.data.x, inputDim), y: fromRows(spec.data.y, outputDim) };
    }
    case 'dataset': {
      if (!rows) throw new InvalidDataError(`dataset ${spec.data.id}: its rows were not provided to the trainer`);
      if (rows.x.length !== rows.n * inputDim || rows.y.length !== rows.n * outputDim) {
        throw new InvalidDataError(
          `dataset ${spec.data.id} has ${rows.x.length / rows.n} input and ${rows.y.length / rows.n} target columns ` +
            `but the model expects inputDim=${inputDim} and outputDim=${outputDim}`,
        );
      }
      // Copies: the tensors own their storage, and the caller's buffers may be transferred or reused.
      return {
        x: tensor(rows.x.slice(), { shape: [rows.n, inputDim] }),
        y: tensor(rows.y.slice(), { shape: [rows.n, outputDim] }),
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
