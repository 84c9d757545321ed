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

export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
  ) {
    super(message);
    this.name = 'CsvError';
  }
}

/** Splits one line into fields, honouring double quotes ("a,b" and "" escapes). */
function splitLine(line: string, lineNo: number): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === ',') {
      fields.push(field.trim());
      field = '';
    } else field += c;
  }
  if (quoted) throw new CsvError(`line ${lineNo}: a quoted field is not closed`, lineNo);
  fields.push(field.trim());
  return fields;
}

export function parseCsv(text: string, target: string[] | null, maxRows: number): ParsedCsv {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new CsvError('the CSV is empty; send a header row and at least one data row', null);
  const header = splitLine(lines[headerIndex], headerIndex + 1);
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw new CsvError(`line ${headerIndex + 1}: column ${i + 1} has an empty name`, headerIndex + 1);
    if (seen.has(name)) throw new CsvError(`line ${headerIndex + 1}: column name ${JSON.stringify(name)} appears twice`, headerIndex + 1);
    seen.add(name);
  });
  if (header.length < 2)
    throw new CsvError(`line ${headerIndex + 1}: the header has ${header.length} column; a dataset needs at least one input and one target column`, headerIndex + 1);
  const targets = target ?? [header[header.length - 1]];
  for (const name of targets) {
    if (!seen.has(name))
      throw new CsvError(`target column ${JSON.stringify(name)} is not in the header (columns: ${header.join(', ')})`, headerIndex + 1);
  }
  const targetSet = new Set(targets);
  if (targetSet.size === header.length) throw new CsvError('every column is a target; at least one input column is needed', headerIndex + 1);
  const yIndex = targets.map((name) => header.indexOf(name));
  const xIndex = header.map((_, i) => i).filter((i) => !targetSet.has(header[i]));

  const x: number[][] = [];
  const y: number[][] = [];
  for (let i = headerIndex + 1; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i].trim() === '') continue;
    if (x.length >= maxRows)
      throw new CsvError(`more than ${maxRows} data rows, above the limit of ${maxRows} (MAX_DATASET_ROWS)`, lineNo);
    const fields = splitLine(lines[i], lineNo);
    if (fields.length !== header.length)
      throw new CsvError(`line ${lineNo}: ${fields.length} fields, but the header has ${header.length}`, lineNo);
    const values = fields.map((field, c) => {
      const value = field === '' ? NaN : Number(field);
      if (!Number.isFinite(value))
        throw new CsvError(`line ${lineNo}, column ${JSON.stringify(header[c])}: ${JSON.stringify(field)} is not a finite number`, lineNo);
      return value;
    });
    x.push(xIndex.map((c) => values[c]));
    y.push(yIndex.map((c) => values[c]));
  }
  if (x.length === 0) throw new CsvError('the CSV has a header but no data rows', null);
  return { x, y, columns: { x: xIndex.map((c) => header[c]), y: targets } };
}
