/**
 * Reference: the tutorial's two-layer step in TensorFlow.js with its WebAssembly backend (SIMD, one thread),
 * written the idiomatic tfjs way (variables, tf.variableGrads, tidy). Same shapes and learning rate.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

export async function tfjsTutorial(steps: number, runs: number): Promise<{ msPerStep: number; backend: string }> {
  const require = createRequire(import.meta.url);
  setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm')) + '/');
  setThreadsCount(1);
  await tf.setBackend('wasm');
  await tf.ready();
  const x = tf.randomNormal([64, 1000]);
  const y = tf.randomNormal([64, 10]);
  const w1 = tf.variable(tf.randomNormal([1000, 100]));
  const w2 = tf.variable(tf.randomNormal([100, 10]));
  const lr = 1e-6;
  const step = () => {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() =>
        tf.sum(tf.square(tf.sub(tf.matMul(tf.relu(tf.matMul(x, w1)), w2), y))) as tf.Scalar,
      );
      w1.assign(tf.sub(w1, tf.mul(grads[w1.name], lr)));
      w2.assign(tf.sub(w2, tf.mul(grads[w2.name], lr)));
      value.dataSync();
    });
  };
  for (let i = 0; i < 20; i++) step();
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    for (let i = 0; i < steps; i++) step();
    best = Math.min(best, (performance.now() - t) / steps);
  }
  return { msPerStep: best, backend: tf.getBackend() };
}
