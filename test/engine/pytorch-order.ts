/**
 * Gradients of the optim_rules problem computed in PyTorch's float32 summation order, so that optimizer (and lr
 * schedule) tests can hold the update rules to PyTorch's bits independently of our autograd's reductions.
 */
const f = Math.fround;

/** ATen's row_sum (SumKernel.cpp) for fewer than 64 values: 4 interleaved float accumulators, tail into the first. */
function atenRowSum(v: number[]): number {
  const p = [0, 0, 0, 0];
  const full = Math.floor(v.length / 4) * 4;
  for (let r = 0; r < full; r += 4) for (let k = 0; k < 4; k++) p[k] = f(p[k]! + v[r + k]!);
  for (let i = full; i < v.length; i++) p[0] = f(p[0]! + v[i]!);
  return f(f(f(p[0]! + p[1]!) + p[2]!) + p[3]!);
}

/** Gradients of ((a @ w + b - t)^2).mean() computed as PyTorch computes them, in plain float32 arithmetic. */
export function pytorchOrderGrads(a: Float32Array, w: Float32Array, b: Float32Array, t: Float32Array): [Float32Array, Float32Array] {
  const g = f(1 / 18);
  const G = new Float32Array(18);
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s = f(s + f(a[i * 4 + k]! * w[k * 3 + j]!));
      G[i * 3 + j] = f(g * f(2 * f(f(s + b[j]!) - t[i * 3 + j]!)));
    }
  }
  const gw = new Float32Array(12);
  for (let k = 0; k < 4; k++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let i = 0; i < 6; i++) s = f(s + f(a[i * 4 + k]! * G[i * 3 + j]!));
      gw[k * 3 + j] = s;
    }
  }
  const gb = new Float32Array(3);
  for (let j = 0; j < 3; j++) gb[j] = atenRowSum([0, 1, 2, 3, 4, 5].map((i) => G[i * 3 + j]!));
  return [gw, gb];
}

