/**
 * The training pool's thread start-up (workers/esm-entry.cts): a worker module's `warmUp` export runs once per thread
 * before the thread takes a task (unless the pool says warmUp: false) and is told to stop once the pool has a task,
 * a warm-up that throws leaves the thread serving, and a worker module that cannot be imported fails each task with its import error, as before.
 * Runs the compiled entry (dist/workers/esm-entry.cjs; `npm test` builds first).
 */
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/service/pool/pool.js';
import { Control, type TrainTask } from '../../src/training/protocol.js';

const WORKER = fileURLToPath(new URL('./helpers/warm-up-worker.mjs', import.meta.url));
const pools: WorkerPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
});

function pool(opts: ConstructorParameters<typeof WorkerPool>[0]): WorkerPool {
  const p = new WorkerPool({ workers: 1, predictThreads: 1, ...opts });
  pools.push(p);
  return p;
}

/** Runs one task; resolves with the first message the worker posted. */
async function runOne(p: WorkerPool): Promise<unknown> {
  const { port1, port2 } = new MessageChannel();
  const first = new Promise((resolve) => port1.once('message', resolve));
  const task = { jobId: 'w', port: port2, control: new SharedArrayBuffer(4) } as unknown as TrainTask;
  new Int32Array(task.control)[0] = Control.RUN;
  try {
    await p.runTrain(task, new AbortController().signal);
    return await first;
  } finally {
    port1.close();
  }
}

describe('training threads warm up before their first task', () => {
  it("runs the worker's warmUp export once per thread, before the first task", async () => {
    const p = pool({ trainScript: WORKER });
    expect(await runOne(p)).toEqual({ warmedUp: 1, stoppedByPool: false });
    expect(await runOne(p)).toEqual({ warmedUp: 1, stoppedByPool: false });
  });

  it('skips it when the pool is built with warmUp: false', async () => {
    const p = pool({ trainScript: WORKER, warmUp: false });
    expect(await runOne(p)).toEqual({ warmedUp: 0, stoppedByPool: false });
  });

  it('stops the warm-ups once the pool is given a task, so the task does not wait for them', async () => {
    process.env.WARM_UP_WORKER_LONG = '1';
    let p: WorkerPool;
    try {
      p = pool({ trainScript: WORKER });
    } finally {
      delete process.env.WARM_UP_WORKER_LONG;
    }
    expect(await runOne(p)).toEqual({ warmedUp: 1, stoppedByPool: true });
  });

  it('a warm-up that throws leaves the thread serving', async () => {
    // Worker threads copy process.env when they start, which is when the pool is built.
    process.env.WARM_UP_WORKER_THROWS = '1';
    let p: WorkerPool;
    try {
      p = pool({ trainScript: WORKER });
    } finally {
      delete process.env.WARM_UP_WORKER_THROWS;
    }
    expect(await runOne(p)).toEqual({ warmedUp: 0, stoppedByPool: false });
    expect(await runOne(p)).toEqual({ warmedUp: 0, stoppedByPool: false });
  });

  it('a worker module that cannot be imported fails each task with the import error', async () => {
    const p = pool({ trainScript: fileURLToPath(new URL('./helpers/no-such-worker.mjs', import.meta.url)) });
    await expect(runOne(p)).rejects.toThrow(/no-such-worker/);
    await expect(runOne(p)).rejects.toThrow(/no-such-worker/);
  });
});
