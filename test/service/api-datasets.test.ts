import request from 'supertest';
import { unpackMatrix } from '../../src/service/store/codec.js';
import { afterEach, expect, test } from 'vitest';
import { makeTestApp, regressionSpec, type TestApp } from '../helpers/app.js';

let t: TestApp | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

test('JSON upload: 201 with shape and Location; GET; use in a job; DELETE then 404', async () => {
  t = await makeTestApp();
  const { x, y } = regressionSpec.data;
  const created = await request(t.app.server).post('/v1/datasets').send({ name: 'toy', x, y }).expect(201);
  const id = created.body.id as string;
  expect(id).toMatch(/^d_/);
  expect(created.headers.location).toBe(`/v1/datasets/${id}`);
  expect(created.body).toMatchObject({ name: 'toy', rows: 15, inputDim: 1, outputDim: 1, columns: null, links: { self: `/v1/datasets/${id}` } });
  const got = await request(t.app.server).get(`/v1/datasets/${id}`).expect(200);
  expect(got.body).toEqual(created.body);

  const job = await request(t.app.server)
    .post('/v1/jobs')
    .send({ ...regressionSpec, data: { kind: 'dataset', id } })
    .expect(201);
  expect(job.body.spec.data).toEqual({ kind: 'dataset', id });

  const mismatch = await request(t.app.server)
    .post('/v1/jobs')
    .send({ ...regressionSpec, model: { kind: 'linear_regression', inputDim: 3, outputDim: 2 }, data: { kind: 'dataset', id } })
    .expect(400);
  expect(mismatch.body.issues).toEqual([
    { path: 'model.inputDim', message: `dataset ${id} has 1 input columns but model.inputDim is 3` },
    { path: 'model.outputDim', message: `dataset ${id} has 1 target columns but model.outputDim is 2` },
  ]);

  await request(t.app.server).delete(`/v1/datasets/${id}`).expect(204);
  const gone = await request(t.app.server).get(`/v1/datasets/${id}`).expect(404);
  expect(gone.body).toEqual({ error: 'not_found', message: `dataset ${id} not found` });
  await request(t.app.server).delete(`/v1/datasets/${id}`).expect(404);
  const unknown = await request(t.app.server)
    .post('/v1/jobs')
    .send({ ...regressionSpec, data: { kind: 'dataset', id } })
    .expect(400);
  expect(unknown.body.issues).toEqual([{ path: 'data.id', message: `dataset ${id} not found` }]);
});

test('JSON upload errors: ragged rows and count mismatch name the row', async () => {
  t = await makeTestApp();
  const res = await request(t.app.server)
    .post('/v1/datasets')
    .send({ x: [[1, 2], [3], [4, 5]], y: [[1], [2]] })
    .expect(400);
  expect(res.body.issues).toEqual([
    { path: 'y', message: 'x has 3 rows but y has 2; they must have the same number of rows' },
    { path: 'x.1', message: 'x[1] has 1 values but x[0] has 2; every row must have the same width' },
  ]);
});

test('CSV upload with ?target= names the columns; without it the last column is the target', async () => {
  t = await makeTestApp();
  const csv = 'a,b,t1,c\n1,2,3,4\n5,6,7,8\r\n\n9,10,11,12\n';
  const res = await request(t.app.server).post('/v1/datasets?target=t1,c&name=mine').set('content-type', 'text/csv').send(csv).expect(201);
  expect(res.body).toMatchObject({ name: 'mine', rows: 3, inputDim: 2, outputDim: 2, columns: { x: ['a', 'b'], y: ['t1', 'c'] } });
  const stored = (await t.store.getDataset('default', res.body.id))!.rows;
  expect(unpackMatrix(stored.x, 3, 2)).toEqual([[1, 2], [5, 6], [9, 10]]);
  expect(unpackMatrix(stored.y, 3, 2)).toEqual([[3, 4], [7, 8], [11, 12]]);

  const last = await request(t.app.server).post('/v1/datasets').set('content-type', 'text/csv').send('x,"y"\n3.3,1.7\n4.4,2.76\n').expect(201);
  expect(last.body).toMatchObject({ rows: 2, inputDim: 1, outputDim: 1, columns: { x: ['x'], y: ['y'] } });
});

test('CSV errors name the line and the column', async () => {
  t = await makeTestApp();
  const post = (csv: string, query = '') =>
    request(t!.app.server).post(`/v1/datasets${query}`).set('content-type', 'text/csv').send(csv).expect(400);
  expect((await post('x,y\n1,2\n3,abc\n')).body).toEqual({
    error: 'invalid_csv',
    message: 'line 3, column "y": "abc" is not a decimal number',
    line: 3,
  });
  expect((await post('x,y\n1,2\n3\n')).body.message).toBe('line 3: 1 fields, but the header has 2');
  expect((await post('x,y\n1,2\n', '?target=z')).body.message).toBe('target column "z" is not in the header (columns: x, y)');
  expect((await post('x,y\n')).body.message).toBe('the CSV has a header but no data rows');
  expect((await post('x,x\n1,2\n')).body.message).toBe('line 1: column name "x" appears twice');
  expect((await post('x,y\n1,\n')).body.message).toBe('line 2, column "y": "" is not a decimal number');
});

test('CSV above MAX_DATASET_ROWS is refused naming the limit', async () => {
  t = await makeTestApp({ overrides: { limits: { maxDatasetRows: 2 } } });
  const res = await request(t.app.server).post('/v1/datasets').set('content-type', 'text/csv').send('x,y\n1,2\n3,4\n5,6\n').expect(400);
  expect(res.body.message).toBe('more than 2 data rows, above the limit of 2 (MAX_DATASET_ROWS)');
});
