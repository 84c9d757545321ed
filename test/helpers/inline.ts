/**
 * What a job record says of inline rows, computed here from the rows themselves (not with the service's code): their
 * count and the SHA-256 of their float64 little-endian bytes, all of x then all of y (docs/service.md).
 */
import { createHash } from 'node:crypto';

const float64Bytes = (rows: readonly (readonly number[])[]): Buffer => Buffer.from(new Float64Array(rows.flat()).buffer);

export function inlineSummary(rows: { x: readonly (readonly number[])[]; y: readonly (readonly number[])[] }): { kind: 'inline'; rows: number; sha256: string } {
  const sha256 = createHash('sha256').update(float64Bytes(rows.x)).update(float64Bytes(rows.y)).digest('hex');
  return { kind: 'inline', rows: rows.x.length, sha256 };
}
