/**
 * Reference: the tutorial's two-layer step in TensorFlow.js with its WebAssembly backend (SIMD, one thread), same
 * shapes and learning rate. Backprop is written by hand (tutorial program 1): tfjs-core's gradient registry ships
 * only as extensionless ESM files that Node cannot import without a bundler, and the work is the same products.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

export async function tfjsTutorial(steps: number, runs: number): Promise<{ msPerStep: number; cpuMsPerStep: number; backend: string }> {
  const require = createRequire(import.meta.url);
  setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm')) + '/');
  setThreadsCount(1);
  await tf.setBackend('wasm');
  await tf.ready();
  const x = tf.randomNormal([64, 1000]);
  const y = tf.randomNormal([64, 10]);
  let w1 = tf.randomNormal([1000, 100]);
  let w2 = tf.randomNormal([100, 10]);
  const lr = 1e-6;
  const step = () => {
    const [n1, n2] = tf.tidy(() => {
      const h = tf.matMul(x, w1);
      const hRelu = tf.relu(h);
      const yPred = tf.matMul(hRelu, w2);
      const diff = tf.sub(yPred, y);
      const loss = tf.sum(tf.square(diff));
      const gradYPred = tf.mul(diff, 2);
      const gradW2 = tf.matMul(hRelu, gradYPred, true, false);
      const gradHRelu = tf.matMul(gradYPred, w2, false, true);
      const gradH = tf.mul(gradHRelu, tf.step(h));
      const gradW1 = tf.matMul(x, gradH, true, false);
      loss.dataSync();
      return [tf.sub(w1, tf.mul(gradW1, lr)), tf.sub(w2, tf.mul(gradW2, lr))];
    });
    w1.dispose();
    w2.dispose();
    w1 = n1;
    w2 = n2;
  };
  for (let i = 0; i < 20; i++) step();
  let best = Infinity;
  let bestCpu = Infinity;
  for (let r = 0; r < runs; r++) {
    const c = process.cpuUsage();
    const t = performance.now();
    for (let i = 0; i < steps; i++) step();
    best = Math.min(best, (performance.now() - t) / steps);
    const d = process.cpuUsage(c);
    bestCpu = Math.min(bestCpu, (d.user + d.system) / 1000 / steps);
  }
  return { msPerStep: best, cpuMsPerStep: bestCpu, backend: tf.getBackend() };
}
