/**
 * nn.init: in-place initialisers drawing from the same generator stream as PyTorch (`torch.nn.init`). Bounds
 * are computed in double precision exactly as the Python code computes them, then handed to `uniform_`, which
 * casts them to float32 (see random.ts).
 */
import { ValueError } from '../errors.js';
import { type Generator, normalFill, uniformFill } from '../random.js';
import { shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';

export interface InitOptions {
  generator?: Generator;
}

export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';

/** Writes into a parameter's storage outside the graph, as `with torch.no_grad(): tensor.uniform_(...)`. */
function overwrite(t: Tensor, fill: (data: Float32Array) => void): Tensor {
  fill(t.data);
  t._version.value++;
  return t;
}

export function uniform_(t: Tensor, a = 0, b = 1, opts: InitOptions = {}): Tensor {
  return overwrite(t, (d) => uniformFill(d, a, b, opts.generator));
}

export function normal_(t: Tensor, mean = 0, std = 1, opts: InitOptions = {}): Tensor {
  return overwrite(t, (d) => normalFill(d, mean, std, opts.generator));
}

export function constant_(t: Tensor, value: number): Tensor {
  return overwrite(t, (d) => d.fill(value));
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/** torch.nn.init.calculate_gain. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose1d':
    case 'conv_transpose2d':
    case 'conv_transpose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5.0 / 3;
    case 'relu':
      return Math.sqrt(2.0);
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2.0 / (1 + slope * slope));
    }
    case 'selu':
      return 3.0 / 4;
    default:
      throw new ValueError(`Unsupported nonlinearity ${String(nonlinearity)}`);
  }
}

/** torch.nn.init._calculate_fan_in_and_fan_out: [fan_in, fan_out] of a weight [out, in, ...receptive field]. */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  if (t.shape.length < 2) {
    throw new ValueError(
      `Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got shape ${shapeStr(t.shape)})`,
    );
  }
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1]! * receptive, t.shape[0]! * receptive];
}

export interface KaimingOptions extends InitOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu only). PyTorch's default is 0. */
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}

/**
 * kaiming_uniform_: U(-bound, bound) with bound = sqrt(3) * gain / sqrt(fan). nn.Linear uses a = sqrt(5), which
 * gives bound = 1/sqrt(fan_in) up to double rounding — the exact double steps below are PyTorch's.
 */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  if (t.data.length === 0) return t; // PyTorch warns "Initializing zero-element tensors is a no-op"
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  const std = gain / Math.sqrt(fan);
  const bound = Math.sqrt(3.0) * std;
  return uniform_(t, -bound, bound, opts);
}

/** kaiming_normal_: N(0, std²) with std = gain / sqrt(fan). */
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  if (t.data.length === 0) return t;
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const std = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0) / Math.sqrt(fan);
  return normal_(t, 0, std, opts);
}

/** xavier_uniform_: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)). */
export function xavierUniform_(t: Tensor, gain = 1, opts: InitOptions = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  const a = Math.sqrt(3.0) * std;
  return uniform_(t, -a, a, opts);
}
