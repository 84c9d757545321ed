/**
 * The hostile requests of issue 11 as raw bodies, built once up front (building a 16 MB body must not be what
 * slows the client). Shared by `npm run bench:hostile` (bench/hostile.ts) and the quick test
 * (test/hardening/hostile-load.test.ts). Every case must be answered 4xx (or 2xx for the valid ones), never 5xx.
 */

export interface HostileCase {
  label: string;
  method: 'POST' | 'GET';
  /** Path and query; `:job` is replaced by a trained job's id. */
  path: string;
  contentType: string;
  body: Buffer;
  /** 'refuse': any correct server answers 4xx; 'accept': a valid request (2xx). */
  expect: 'refuse' | 'accept';
}

const spec = (data: string) =>
  `{"model":{"kind":"linear_regression","inputDim":1,"outputDim":1},"data":${data},"training":{"epochs":1,"loss":"mse","optimizer":{"kind":"sgd","lr":0.01}}}`;

const repeat = (item: string, n: number) => {
  const parts = new Array<string>(n).fill(item);
  return parts.join(',');
};

/** A list of rows that fills about `bytes`. */
const rowsOf = (row: string, bytes: number) => `[${repeat(row, Math.floor(bytes / (row.length + 1)))}]`;

const MiB = 1024 * 1024;

/**
 * `size` scales the large bodies: 1 = the default MAX_BODY_BYTES (16 MiB) less a margin; the quick test uses less.
 * `only` keeps the cases whose label starts with one of these prefixes.
 */
export function hostileCases(options: { size?: number } = {}): HostileCase[] {
  const big = Math.floor((options.size ?? 1) * (16 * MiB - 64 * 1024));
  const json = (label: string, path: string, text: string, expect: HostileCase['expect'] = 'refuse'): HostileCase => ({
    label,
    method: 'POST',
    path,
    contentType: 'application/json',
    body: Buffer.from(text),
    expect,
  });
  const csv = (label: string, path: string, text: string, expect: HostileCase['expect'] = 'refuse'): HostileCase => ({
    label,
    method: 'POST',
    path,
    contentType: 'text/csv',
    body: Buffer.from(text),
    expect,
  });
  const wideRow = `[${repeat('""', 130_000)}]`;
  const validRows = Math.floor(big / 30);
  const xs = Array.from({ length: validRows }, (_, i) => `[${(i / validRows).toFixed(9)}]`).join(',');
  const ys = Array.from({ length: validRows }, (_, i) => `[${(2 * (i / validRows) + 1).toFixed(9)}]`).join(',');
  const csvRows = Math.floor(big / 22);
  const validCsv = `a,b\n${Array.from({ length: csvRows }, (_, i) => `${(i / csvRows).toFixed(8)},${(2 * (i / csvRows) + 1).toFixed(8)}`).join('\n')}\n`;

  return [
    json('jobs: 16 MB of [""] rows (3.3M bad cells)', '/v1/jobs', spec(`{"kind":"inline","x":${rowsOf('[""]', big - 200)},"y":[[1]]}`)),
    json('jobs: one row of 130k bad values', '/v1/jobs', spec(`{"kind":"inline","x":[${wideRow}],"y":[[1]]}`)),
    json('predictions: one row of 130k bad values', '/v1/jobs/:job/predictions', `{"x":[${wideRow}]}`),
    json('datasets: one row of 130k bad values', '/v1/datasets', `{"x":[${wideRow}],"y":[[1]]}`),
    json('jobs: 10k bad cells in 30 KB', '/v1/jobs', spec(`{"kind":"inline","x":[${repeat('["a"]', 10_000)}],"y":[[1]]}`)),
    json('jobs: 16 MB of empty rows [] (5.5M rows)', '/v1/jobs', spec(`{"kind":"inline","x":${rowsOf('[]', big - 200)},"y":[[1]]}`)),
    json('jobs: 16 MB of 1e308 (float32 overflow everywhere)', '/v1/jobs', spec(`{"kind":"inline","x":${rowsOf('[1e308]', big - 200)},"y":[[1]]}`)),
    json('jobs: 1e309 inline', '/v1/jobs', spec('{"kind":"inline","x":[[1e309]],"y":[[1]]}')),
    json('jobs: a million nested arrays in data.x', '/v1/jobs', spec(`{"kind":"inline","x":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)},"y":[[1]]}`)),
    json('jobs: 16 MB under an unknown key', '/v1/jobs', spec('{"kind":"random","n":2}').replace('{"model"', `{"junk":${rowsOf('[1]', big - 300)},"model"`)),
    json('jobs: __proto__ key', '/v1/jobs', spec('{"kind":"random","n":2,"__proto__":{"polluted":true}}')),
    csv('datasets: 15 MB invalid CSV field', '/v1/datasets', `a,b\n${'z'.repeat(Math.min(big - 100, 15 * MiB))},1\n`),
    csv('datasets: CSV with ?target twice', '/v1/datasets?target=a&target=b', 'a,b,c\n1,2,3\n'),
    csv('datasets: CSV 1e39', '/v1/datasets', 'a,b\n1e39,1\n'),
    json('jobs: valid, 16 MB of inline rows', '/v1/jobs', spec(`{"kind":"inline","x":[${xs}],"y":[${ys}]}`), 'accept'),
    csv('datasets: valid 16 MB CSV', '/v1/datasets', validCsv, 'accept'),
    // After the valid 16 MB jobs (cases run in this order each round): reading them must not pay for their rows.
    { label: 'jobs: list 100 (after the valid 16 MB jobs)', method: 'GET', path: '/v1/jobs?limit=100', contentType: '', body: Buffer.alloc(0), expect: 'accept' },
  ];
}
