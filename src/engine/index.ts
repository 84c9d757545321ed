/**
 * gradloom's engine: PyTorch-compatible tensors and autograd in TypeScript (no Node APIs: runs in a browser).
 * Everything outside src/engine imports from here.
 */
export {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  arange,
  randn,
  rand,
} from './tensor.js';
export type { Operand, NestedArray, NestedInput, TensorOptions, RandomOptions, VersionCounter } from './tensor.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, GradNode } from './autograd.js';
export type { BackwardOptions, BackwardFn, Edge } from './autograd.js';
export { GradloomError, ShapeError, AutogradError, ValueError, SafetensorsError } from './errors.js';
export { broadcastShapes, numelOf, shapeStr } from './shape.js';
export { add, sub, mul, div, neg, pow, exp, log, sqrt, tanh, sigmoid, relu, clamp } from './ops/elementwise.js';
export { mm, matmul } from './ops/matmul.js';
export { sum, mean, amax } from './ops/reduce.js';
export { where, maskedFill } from './ops/compare.js';
export { transpose, reshape } from './ops/shape.js';
export { linear } from './ops/linear.js';
export { mseLoss } from './ops/loss.js';
export type { Reduction } from './ops/loss.js';
export { Generator, defaultGenerator, manualSeed, uniformFill, normalFill, randperm } from './random.js';
export * as kernels from './kernels/index.js';
export type { GeneratorState } from './random.js';
export { saveSafetensors, loadSafetensors } from './safetensors.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export { parseSafetensors, serializeSafetensors, MAX_HEADER_BYTES } from './safetensorsFormat.js';
export type { RawSafetensors, RawTensor, TensorBytes } from './safetensorsFormat.js';
