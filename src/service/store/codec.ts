/** Encodings both stores share, so data and cursors mean the same on SQLite and PostgreSQL. */

/** Dataset rows are stored as float64 little-endian matrices: exact for any JSON number, 8 bytes a value. */
export function packMatrix(rows: number[][], width: number): Buffer {
  const out = new Float64Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    for (let j = 0; j < width; j++) out[i * width + j] = row[j]!;
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

export function unpackMatrix(buf: Uint8Array, rows: number, width: number): number[][] {
  const data = new Float64Array(new Uint8Array(buf).buffer); // copy: the bytes may not be 8-byte aligned
  const out: number[][] = new Array(rows);
  for (let i = 0; i < rows; i++) out[i] = Array.from(data.subarray(i * width, (i + 1) * width));
  return out;
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
