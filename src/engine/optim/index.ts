/** The `optim` namespace: optimizers following PyTorch's update rules to the float32 bit. */
export { Optimizer, type OptimizerStateDict, type ParamGroup, type ParamsArg, type ParamState, type StateValue } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, type AdamOptions } from './adam.js';
export { serializeOptimizerState, deserializeOptimizerState } from './serialize.js';
export { LRScheduler, StepLR, CosineAnnealingLR, type LRSchedulerStateDict } from './lr-scheduler.js';
