/**
 * Inline rows live apart from the job record (issue 11): a submitted spec's `data` and `training.validation` rows are
 * packed as float64 matrices and stored beside the job, and the record keeps `{kind: "inline", rows, sha256}`. So a
 * job's record is small whatever its data, and reading, listing and streaming it never parse its rows.
 */
import { createHash } from 'node:crypto';
import type { InlineRowsSummary, JobSpec, StoredJobSpec } from '../../spec/job-spec.js';
import type { TrainingData } from '../../training/protocol.js';
import { float64Of, packMatrix } from '../store/codec.js';
import type { JobRows, PackedRows } from './types.js';

function pack(rows: { x: number[][]; y: number[][] }, inputDim: number, outputDim: number): PackedRows {
  return { rows: rows.x.length, inputDim, outputDim, x: packMatrix(rows.x, inputDim), y: packMatrix(rows.y, outputDim) };
}

/** The digest a summary carries: SHA-256 of x's then y's float64 little-endian bytes. */
export function rowsDigest(rows: PackedRows): string {
  return createHash('sha256').update(rows.x).update(rows.y).digest('hex');
}

function summary(rows: PackedRows): InlineRowsSummary {
  return { kind: 'inline', rows: rows.rows, sha256: rowsDigest(rows) };
}

/**
 * Splits a checked spec (widths already verified against the model) into what the job record keeps and the rows
 * stored apart. Specs without inline rows come back as they are, with no rows.
 */
export function detachInlineRows<S extends JobSpec>(spec: S): { spec: Omit<StoredJobSpec, 'seed'> & Pick<S, 'seed'>; rows: JobRows } {
  const { inputDim, outputDim } = spec.model;
  const rows: JobRows = {};
  let data: StoredJobSpec['data'];
  if (spec.data.kind === 'inline') {
    rows.data = pack(spec.data, inputDim, outputDim);
    data = summary(rows.data);
  } else {
    data = spec.data;
  }
  let training: StoredJobSpec['training'] = spec.training as StoredJobSpec['training'];
  const v = spec.training.validation;
  if (v?.kind === 'inline') {
    rows.validation = pack(v, inputDim, outputDim);
    training = { ...spec.training, validation: summary(rows.validation) };
  }
  return { spec: { ...spec, data, training }, rows };
}

/** Stored float64 rows as the float32 arrays a trainer takes (what `torch.tensor(rows)` would round them to). */
export function toTrainingData(rows: PackedRows): TrainingData {
  return { n: rows.rows, x: Float32Array.from(float64Of(rows.x)), y: Float32Array.from(float64Of(rows.y)) };
}
