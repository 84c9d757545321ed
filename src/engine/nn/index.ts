/** The `nn` namespace: modules, losses and initialisers with PyTorch's names and semantics. */
export { Module, type LoadStateDictResult } from './module.js';
export { Linear, type LinearOptions } from './linear.js';
export { ReLU, Tanh, Sigmoid } from './activation.js';
export { Sequential } from './container.js';
export { MSELoss } from './loss.js';
export * as init from './init.js';
