/** Encodings both stores share, so rows, data and cursors mean the same on SQLite and PostgreSQL. */
import type { DatasetRecord, EpochEvent, JobRecord, JobStatus, PackedRows } from '../jobs/types.js';

/** The job columns both stores have (JSON documents as text, timestamps as ISO strings). */
export interface JobRowFields {
  id: string;
  tenant: string;
  name: string | null;
  status: JobStatus;
  spec: string;
  epoch: number;
  epochs: number;
  last_loss: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  error: string | null;
  version: number;
  details?: string | null;
}

export function rowToJob(r: JobRowFields): JobRecord {
  return {
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    status: r.status,
    spec: JSON.parse(r.spec),
    epoch: r.epoch,
    epochs: r.epochs,
    lastLoss: r.last_loss,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
    error: r.error === null ? null : JSON.parse(r.error),
    version: r.version,
    details: r.details ? JSON.parse(r.details) : null,
  };
}

/** The dataset columns both stores have (x and y aside). */
export interface DatasetRowFields {
  id: string;
  tenant: string;
  name: string | null;
  rows: number;
  input_dim: number;
  output_dim: number;
  columns: string | null;
  created_at: string;
  bytes: number;
}

export function rowToDatasetRecord(r: DatasetRowFields): DatasetRecord {
  return {
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    rows: r.rows,
    inputDim: r.input_dim,
    outputDim: r.output_dim,
    columns: r.columns === null ? null : JSON.parse(r.columns),
    createdAt: r.created_at,
    bytes: r.bytes,
  };
}

/** A dataset row with its matrices: the record, and the rows as stored (no unpacking). */
export function datasetRows(r: DatasetRowFields & { x?: Uint8Array; y?: Uint8Array }): { record: DatasetRecord; rows: PackedRows } {
  return {
    record: rowToDatasetRecord(r),
    rows: { rows: r.rows, inputDim: r.input_dim, outputDim: r.output_dim, x: r.x ?? new Uint8Array(0), y: r.y ?? new Uint8Array(0) },
  };
}

/** Dataset rows are stored as float64 little-endian matrices: exact for any JSON number, 8 bytes a value. */
export function packMatrix(rows: number[][], width: number): Buffer {
  const out = new Float64Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    for (let j = 0; j < width; j++) out[i * width + j] = row[j]!;
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** Stored float64 bytes as numbers (a copy: the bytes may not be 8-byte aligned). */
export function float64Of(buf: Uint8Array): Float64Array {
  return new Float64Array(new Uint8Array(buf).buffer);
}

export function unpackMatrix(buf: Uint8Array, rows: number, width: number): number[][] {
  const data = float64Of(buf);
  const out: number[][] = new Array(rows);
  for (let i = 0; i < rows; i++) out[i] = Array.from(data.subarray(i * width, (i + 1) * width));
  return out;
}

/**
 * Both stores refuse a non-finite loss the same way (SQLite would store NaN as NULL and fail, PostgreSQL would keep
 * it): the runtime records no epoch for a diverged one, it ends the job as `diverged` instead.
 */
export function checkFiniteLosses(events: readonly EpochEvent[]): void {
  for (const e of events) {
    if (!Number.isFinite(e.loss)) throw new RangeError(`epoch ${e.epoch}: loss ${e.loss} is not finite; a diverged epoch is not recorded`);
  }
}

/** A listJobs cursor names the insertion sequence number of the last job of the page. */
export function encodeCursor(seq: number | string): string {
  return Buffer.from(`s:${seq}`).toString('base64url');
}

/** The sequence number as decimal digits (it may exceed 2^53 in PostgreSQL's bigint), or null when unreadable. */
export function decodeCursor(cursor: string): string | null {
  const m = /^s:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString());
  return m ? m[1]! : null;
}
