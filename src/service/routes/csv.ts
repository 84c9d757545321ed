/**
 * CSV uploads for datasets: a header row, then one row per sample; numbers only. Target columns are named by
 * `?target=a,b`; without it, the last column is the target. Errors name the line (1-based, the header is line 1)
 * and the column.
 */
export interface ParsedCsv {
  x: number[][];
  y: number[][];
  columns: { x: string[]; y: string[] };
}

/** The largest finite float32: training computes in float32, so a larger value would silently become infinite. */
const FLOAT32_MAX = 3.4028234663852886e38;
/** A decimal number, as people write them: no hex (`0x10`), binary, `Infinity` or blanks that Number() accepts. */
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A field or name as an error message quotes it: JSON-escaped, at most ~100 characters. */
function quote(text: string): string {
  const q = JSON.stringify(text.length > 100 ? text.slice(0, 100) : text);
  return text.length > 100 ? `${q}... (${text.length} characters)` : q;
}

export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
  ) {
    super(message);
    this.name = 'CsvError';
  }
}

/**
 * Splits one line into fields, honouring double quotes ("a,b" and "" escapes). Slices between the separators it
 * finds with indexOf, so a field of megabytes costs one copy, not one string operation per character.
 */
function splitLine(line: string, lineNo: number): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let start = i;
    while (line[start] === ' ' || line[start] === '\t') start++;
    let field: string;
    let next: number; // where the text after the field (if any) starts
    if (line[start] === '"') {
      field = '';
      let k = start + 1;
      for (;;) {
        const q = line.indexOf('"', k);
        if (q < 0) throw new CsvError(`line ${lineNo}: a quoted field is not closed`, lineNo);
        field += line.slice(k, q);
        if (line[q + 1] === '"') {
          field += '"';
          k = q + 2;
        } else {
          next = q + 1;
          break;
        }
      }
    } else {
      field = '';
      next = start;
    }
    const comma = line.indexOf(',', next);
    field += line.slice(next, comma < 0 ? line.length : comma);
    fields.push(field.trim());
    if (comma < 0) return fields;
    i = comma + 1;
  }
}

/** Fields parsed between two yields of parseCsvInSlices (~20 ms on a slow core). */
const FIELDS_PER_SLICE = 50_000;

export function parseCsv(text: string, target: string[] | null, maxRows: number): ParsedCsv {
  const steps = csvSteps(text, target, maxRows);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** parseCsv, yielding to the event loop between slices, so a 16 MB upload does not hold other requests. */
export async function parseCsvInSlices(text: string, target: string[] | null, maxRows: number): Promise<ParsedCsv> {
  const steps = csvSteps(text, target, maxRows);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function* csvSteps(text: string, target: string[] | null, maxRows: number): Generator<void, ParsedCsv> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new CsvError('the CSV is empty; send a header row and at least one data row', null);
  const header = splitLine(lines[headerIndex], headerIndex + 1);
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw new CsvError(`line ${headerIndex + 1}: column ${i + 1} has an empty name`, headerIndex + 1);
    if (seen.has(name)) throw new CsvError(`line ${headerIndex + 1}: column name ${quote(name)} appears twice`, headerIndex + 1);
    seen.add(name);
  });
  if (header.length < 2)
    throw new CsvError(`line ${headerIndex + 1}: the header has ${header.length} column; a dataset needs at least one input and one target column`, headerIndex + 1);
  const targets = target ?? [header[header.length - 1]];
  for (const name of targets) {
    if (!seen.has(name))
      throw new CsvError(
        `target column ${quote(name)} is not in the header (columns: ${header.slice(0, 20).map((h) => (h.length > 100 ? `${h.slice(0, 100)}...` : h)).join(', ')}${header.length > 20 ? `, and ${header.length - 20} more` : ''})`,
        headerIndex + 1,
      );
  }
  const targetSet = new Set(targets);
  if (targetSet.size === header.length) throw new CsvError('every column is a target; at least one input column is needed', headerIndex + 1);
  const yIndex = targets.map((name) => header.indexOf(name));
  const xIndex = header.map((_, i) => i).filter((i) => !targetSet.has(header[i]));

  const x: number[][] = [];
  const y: number[][] = [];
  let sinceYield = 0;
  for (let i = headerIndex + 1; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i].trim() === '') continue;
    if (x.length >= maxRows)
      throw new CsvError(`more than ${maxRows} data rows, above the limit of ${maxRows} (MAX_DATASET_ROWS)`, lineNo);
    const fields = splitLine(lines[i], lineNo);
    sinceYield += fields.length + 1;
    if (sinceYield >= FIELDS_PER_SLICE) {
      sinceYield = 0;
      yield;
    }
    if (fields.length !== header.length)
      throw new CsvError(`line ${lineNo}: ${fields.length} fields, but the header has ${header.length}`, lineNo);
    const values = fields.map((field, c) => {
      const value = DECIMAL_RE.test(field) ? Number(field) : NaN;
      if (Number.isNaN(value))
        throw new CsvError(`line ${lineNo}, column ${quote(header[c]!)}: ${quote(field)} is not a decimal number`, lineNo);
      if (!(Math.abs(value) <= FLOAT32_MAX))
        throw new CsvError(
          `line ${lineNo}, column ${quote(header[c]!)}: ${quote(field)} is outside the float32 range training uses (±3.4028234663852886e+38)`,
          lineNo,
        );
      return value;
    });
    x.push(xIndex.map((c) => values[c]));
    y.push(yIndex.map((c) => values[c]));
  }
  if (x.length === 0) throw new CsvError('the CSV has a header but no data rows', null);
  return { x, y, columns: { x: xIndex.map((c) => header[c]), y: targets } };
}
