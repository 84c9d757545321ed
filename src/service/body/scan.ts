/**
 * The linear pre-check of a parsed JSON body's number matrices (a job's inline data.x / data.y, a dataset's x / y,
 * prediction inputs). zod checks these shapes too, but per element: it collects an issue for every bad cell (a
 * 16 MB body of `[""]` rows gave a 232 MB answer after 48 s) and overflows the stack on one row of ~130k bad values.
 * Here one loop with no recursion checks every cell, keeps the first MAX_ISSUES messages and only counts the
 * rest, then takes the matrices out of the body so that zod validates the small remainder (with an empty matrix in
 * their place) and the route gets them back after validation (see json-body.ts).
 *
 * `scanBody` must stay self-contained (no imports, no closure over module scope): json-body.ts runs it on a worker
 * thread from its source text (`scanBody.toString()`).
 */

/** Issues a 400 lists; the rest are counted. */
export const MAX_ISSUES = 20;

/** The largest finite float32: training computes in float32, so a larger value would silently become infinite. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Which matrices a route's body holds. */
export type BodyKind = 'job' | 'dataset' | 'prediction';

export interface ScanIssue {
  path: string;
  message: string;
}

export interface ScanResult {
  /** At most `maxIssues`, in body order. */
  issues: ScanIssue[];
  /** All problems found, including those not listed. */
  total: number;
  /** The matrices taken out of the body (each replaced there by []), with the path they came from. */
  matrices: { path: string[]; rows: unknown[] }[];
}

export function scanBody(body: unknown, kind: BodyKind, maxIssues: number, maxRows = Infinity): ScanResult {
  const F32 = 3.4028234663852886e38;
  const issues: ScanIssue[] = [];
  let total = 0;
  const matrices: ScanResult['matrices'] = [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const describe = (v: unknown): string => {
    if (v === null) return 'null';
    if (Array.isArray(v)) return `an array of ${v.length}`;
    if (typeof v === 'object') return 'an object';
    const text = JSON.stringify(v) ?? String(v);
    return `${typeof v} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
  };
  const report = (path: string, message: string) => {
    total++;
    if (issues.length < maxIssues) issues.push({ path, message });
  };

  const checkMatrix = (rows: unknown[], name: string) => {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (!Array.isArray(row)) {
        if (total >= maxIssues) total++;
        else report(`${name}.${i}`, `must be an array of numbers, got ${describe(row)}`);
        continue;
      }
      for (let j = 0; j < row.length; j++) {
        const v: unknown = row[j];
        if (typeof v === 'number' && v <= F32 && v >= -F32) continue; // the common case: one comparison pair
        if (total >= maxIssues) {
          total++; // counting only: no message to build
          continue;
        }
        if (typeof v !== 'number') report(`${name}.${i}.${j}`, `must be a number, got ${describe(v)}`);
        else if (v !== v) report(`${name}.${i}.${j}`, 'must be a number, got NaN');
        else if (!Number.isFinite(v))
          report(
            `${name}.${i}.${j}`,
            'is out of range: the number is too large to represent (beyond ±1.8e308 it reads as infinity); values must lie within ±3.4028234663852886e+38, the float32 range training uses',
          );
        else report(`${name}.${i}.${j}`, `is ${v}, outside the float32 range training uses (±3.4028234663852886e+38)`);
      }
    }
  };

  const take = (holder: Record<string, unknown>, prefix: string[], key: string) => {
    const value = holder[key];
    if (!Array.isArray(value)) return; // zod says what it should be
    const path = [...prefix, key];
    // Too many rows: say so, and spend nothing on their cells (the route would refuse them anyway).
    if (value.length > maxRows)
      report(path.join('.'), `has ${value.length} rows, above the limit of ${maxRows} (MAX_DATASET_ROWS)`);
    else checkMatrix(value, path.join('.'));
    matrices.push({ path, rows: value });
    holder[key] = [];
  };

  if (isObject(body)) {
    if (kind === 'job') {
      const data = body.data;
      if (isObject(data) && data.kind === 'inline') {
        take(data, ['data'], 'x');
        take(data, ['data'], 'y');
      }
    } else {
      take(body, [], 'x');
      if (kind === 'dataset') take(body, [], 'y');
    }
  }
  return { issues, total, matrices };
}

/**
 * Counts the values of what is left of a body once its matrices are out, without recursion, stopping at `max`.
 * When there are more, returns the path of the subtree holding most of them: a large value in a field that is
 * not a matrix (an unknown field, data.x with kind "random") is refused before anything hands it to zod.
 * Self-contained, like scanBody.
 */
export function findLargeValue(body: unknown, max: number): string | null {
  const size = (root: unknown): number => {
    let n = 0;
    const stack: unknown[] = [root];
    while (stack.length > 0) {
      const v = stack.pop();
      n++;
      if (n > max) return n;
      if (Array.isArray(v)) for (let i = 0; i < v.length && stack.length <= max; i++) stack.push(v[i]);
      else if (typeof v === 'object' && v !== null) for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k]);
    }
    return n;
  };
  if (size(body) <= max) return null;
  // Descend into the child that is itself too large, as long as there is one.
  const path: string[] = [];
  let node: unknown = body;
  for (;;) {
    let next: { key: string; value: unknown } | null = null;
    if (typeof node === 'object' && node !== null) {
      const keys = Array.isArray(node) ? [] : Object.keys(node);
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length && i < 1000; i++) if (size(node[i]) > max) { next = { key: String(i), value: node[i] }; break; }
      } else {
        for (const k of keys) {
          const child = (node as Record<string, unknown>)[k];
          if (size(child) > max) { next = { key: k, value: child }; break; }
        }
      }
    }
    if (!next) break;
    path.push(next.key);
    node = next.value;
  }
  return path.join('.');
}

/**
 * The first `__proto__` key (or `constructor` holding `prototype`) in a body, as a dotted path, or null. JSON.parse
 * makes them plain own properties, but code that copies an object with assignment would change a prototype, so
 * they are refused as fastify's own parser refuses them, with a message that says which key. Iterative;
 * self-contained, like scanBody.
 */
export function findForbiddenKey(body: unknown): string | null {
  const stack: { value: unknown; path: string }[] = [{ value: body, path: '' }];
  const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (typeof value[i] === 'object' && value[i] !== null) stack.push({ value: value[i], path: join(path, String(i)) });
      continue;
    }
    for (const key of Object.keys(value)) {
      const child = (value as Record<string, unknown>)[key];
      if (key === '__proto__') return join(path, key);
      if (key === 'constructor' && typeof child === 'object' && child !== null && Object.prototype.hasOwnProperty.call(child, 'prototype'))
        return join(join(path, key), 'prototype');
      if (typeof child === 'object' && child !== null) stack.push({ value: child, path: join(path, key) });
    }
  }
  return null;
}
