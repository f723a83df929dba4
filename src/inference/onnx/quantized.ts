/**
 * 8-bit weights in the form onnxruntime's `quantize_dynamic` writes them, W ≈ (W_q − zero_point) · scale
 * with one scale per tensor or one per output channel, and the error its uint8 activations add. Pure:
 * model import reads a quantized classifier through these, export writes a tuned one back, and the
 * runtime's load-time check sizes its tolerance with {@link activationQuantizationBound}.
 */
import { tensorToFloat32, toNumber, type TensorProto } from './model.js';

/** ONNX TensorProto data types of 8-bit weights. */
export const QUANT_DATA_TYPE = { uint8: 2, int8: 3 } as const;
export type QuantType = keyof typeof QUANT_DATA_TYPE;

const RANGE: Record<QuantType, [number, number]> = { uint8: [0, 255], int8: [-128, 127] };

export function quantTypeOf(dataType: number | undefined): QuantType | null {
  return dataType === QUANT_DATA_TYPE.int8 ? 'int8' : dataType === QUANT_DATA_TYPE.uint8 ? 'uint8' : null;
}

/** numpy's round (half to even), which onnxruntime's quantizer and DynamicQuantizeLinear use. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The values of an INT8 or UINT8 tensor (ONNX keeps them in raw_data, or one per int32_data entry). */
export function tensorToInts(t: TensorProto): { dims: number[]; type: QuantType; data: Int32Array } {
  const dims = (t.dims ?? []).map(toNumber);
  const size = dims.reduce((a, b) => a * b, 1);
  const type = quantTypeOf(t.dataType);
  if (!type) throw new Error(`tensor '${t.name}' has ONNX data type ${t.dataType}, expected INT8 (3) or UINT8 (2)`);
  if (t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0) {
    throw new Error(`tensor '${t.name}' stores its data in an external file, which modtune does not read`);
  }
  let data: Int32Array;
  if (t.rawData && t.rawData.byteLength > 0) {
    const raw = t.rawData;
    data = type === 'int8' ? Int32Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength)) : Int32Array.from(raw);
  } else {
    data = Int32Array.from(t.int32Data ?? []);
  }
  if (data.length !== size) throw new Error(`tensor '${t.name}' holds ${data.length} values but its dims [${dims}] need ${size}`);
  const [lo, hi] = RANGE[type];
  if (data.some((v) => v < lo || v > hi)) throw new Error(`tensor '${t.name}' holds values outside the ${type} range`);
  return { dims, type, data };
}

export function quantTensor(name: string, dims: number[], type: QuantType, values: ArrayLike<number>): TensorProto {
  const bytes = type === 'int8' ? new Uint8Array(Int8Array.from(values).buffer) : Uint8Array.from(values);
  return { name, dims, dataType: QUANT_DATA_TYPE[type], rawData: bytes };
}

export interface QuantizedMatrix {
  /** [rows, cols] */
  dims: [number, number];
  type: QuantType;
  q: Int32Array;
  /** One value (per tensor) or one per channel of `axis`. */
  scale: Float32Array;
  zeroPoint: Int32Array;
  /** The output-channel axis the per-channel parameters run along (1 for a MatMul's [in, out] weight). */
  axis: 0 | 1;
}

/**
 * (W_q − zero_point) · scale as float32: exactly the weights the integer MatMul multiplies by (up to the
 * single rounding of the product to float32). Scale and zero point each hold one value or one per channel.
 */
export function dequantize(m: QuantizedMatrix): Float32Array {
  const [rows, cols] = m.dims;
  const channels = m.axis === 0 ? rows : cols;
  for (const [what, n] of [['scale', m.scale.length], ['zero point', m.zeroPoint.length]] as const) {
    if (n !== 1 && n !== channels) throw new Error(`the ${what} has ${n} values; expected 1 (per tensor) or ${channels} (per channel)`);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const ch = m.axis === 0 ? r : c;
      const s = m.scale[m.scale.length === 1 ? 0 : ch];
      const z = m.zeroPoint[m.zeroPoint.length === 1 ? 0 : ch];
      out[r * cols + c] = (m.q[r * cols + c] - z) * s;
    }
  }
  return out;
}

/** Reads W_q, its scale and its zero point (null: 0) from their initializers: {@link dequantize}. */
export function dequantizeTensors(weight: TensorProto, scale: TensorProto, zeroPoint: TensorProto | null, axis: 0 | 1): { dims: number[]; data: Float32Array } {
  const w = tensorToInts(weight);
  if (w.dims.length !== 2) throw new Error(`'${weight.name}' has dims [${w.dims}], expected a matrix`);
  const zp = zeroPoint ? tensorToInts(zeroPoint) : null;
  if (zp && zp.type !== w.type) throw new Error(`the zero point '${zeroPoint!.name}' is ${zp.type} but the weight '${weight.name}' is ${w.type}`);
  const data = dequantize({ dims: [w.dims[0], w.dims[1]], type: w.type, q: w.data, scale: tensorToFloat32(scale).data, zeroPoint: zp?.data ?? Int32Array.of(0), axis });
  return { dims: w.dims, data };
}

export interface QuantizeOptions {
  type?: QuantType;
  /** One scale and zero point per output channel instead of one for the tensor. */
  perChannel?: boolean;
  /** 7-bit weights (onnxruntime's reduce_range), for CPUs whose u8·s8 kernels can saturate. */
  reduceRange?: boolean;
  /** Default: symmetric for int8 (zero point 0), asymmetric for uint8, as quantize_dynamic does. */
  symmetric?: boolean;
}

/** get_qmin_qmax_for_qType in onnxruntime/python/tools/quantization/quant_utils.py. */
function qRange(type: QuantType, reduceRange: boolean, symmetric: boolean): [number, number] {
  if (type === 'int8') {
    if (reduceRange) return [-64, 64];
    return symmetric ? [-127, 127] : [-128, 127];
  }
  return reduceRange ? [0, 127] : [0, 255];
}

/** compute_scale_zp + quantize_nparray of quant_utils.py on one slice of values. */
function quantizeSlice(values: Float32Array, type: QuantType, qmin: number, qmax: number, symmetric: boolean): { q: Int32Array; scale: number; zeroPoint: number } {
  let rmin = 0;
  let rmax = 0;
  for (const v of values) {
    if (v < rmin) rmin = v;
    if (v > rmax) rmax = v;
  }
  if (symmetric) {
    const absmax = Math.max(-rmin, rmax);
    rmin = -absmax;
    rmax = absmax;
  }
  // The range is a float32 difference, divided in float64; the zero point uses the float64 scale.
  const scale64 = Math.fround(rmax - rmin) / (qmax - qmin);
  let scale: number;
  let zeroPoint: number;
  if (scale64 < 1.1754943508222875e-38) {
    scale = 1;
    zeroPoint = 0;
  } else {
    zeroPoint = symmetric ? roundHalfEven((qmin + qmax) / 2) : roundHalfEven(qmin - rmin / scale64);
    scale = Math.fround(scale64);
  }
  const [lo, hi] = RANGE[type];
  const q = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.min(hi, Math.max(lo, roundHalfEven(Math.fround(values[i] / scale)) + zeroPoint));
  return { q, scale, zeroPoint };
}

/**
 * Quantizes a [rows, cols] float matrix as onnxruntime's quantize_dynamic quantizes a MatMul weight:
 * int8 symmetric (scale = max|w| / 127, zero point 0) or uint8 asymmetric, per tensor or per channel of `axis`.
 */
export function quantizeMatrix(w: Float32Array, dims: [number, number], axis: 0 | 1, opts: QuantizeOptions = {}): QuantizedMatrix {
  const type = opts.type ?? 'int8';
  const symmetric = opts.symmetric ?? type === 'int8';
  const [qmin, qmax] = qRange(type, opts.reduceRange ?? false, symmetric);
  const [rows, cols] = dims;
  if (w.length !== rows * cols) throw new Error(`${w.length} values for a [${dims}] matrix`);
  if (!opts.perChannel) {
    const s = quantizeSlice(w, type, qmin, qmax, symmetric);
    return { dims, type, q: s.q, scale: Float32Array.of(s.scale), zeroPoint: Int32Array.of(s.zeroPoint), axis };
  }
  const channels = axis === 0 ? rows : cols;
  const inner = axis === 0 ? cols : rows;
  const at = (ch: number, i: number) => (axis === 0 ? ch * cols + i : i * cols + ch);
  const q = new Int32Array(w.length);
  const scale = new Float32Array(channels);
  const zeroPoint = new Int32Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    const slice = Float32Array.from({ length: inner }, (_, i) => w[at(ch, i)]);
    const s = quantizeSlice(slice, type, qmin, qmax, symmetric);
    s.q.forEach((v, i) => (q[at(ch, i)] = v));
    scale[ch] = s.scale;
    zeroPoint[ch] = s.zeroPoint;
  }
  return { dims, type, q, scale, zeroPoint, axis };
}

/** DynamicQuantizeLinear's scale for a tensor: its range, widened to include 0, over the 255 steps of uint8. */
export function dynamicScale(x: ArrayLike<number>): number {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < x.length; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  return (hi - lo) / 255;
}

/**
 * How far a dynamically quantized classifier's logits may be from the float head applied to the same
 * features. The graph rounds the features f to uint8 steps of s = (max(0, max f) − min(0, min f)) / 255,
 * one s for the whole batch it runs (so it depends on the other texts in the batch), moving each feature
 * by at most s/2; the integer product with W_q is exact and the rest is float rounding. So for every text
 * and label j, |Σ_i W_ji f_i − logits_j| ≤ (s/2) · Σ_i |W_ji|. Returns s and the largest of those bounds
 * over the labels, for `features` ([n, dim], the batch the graph ran) and `weight` ([numLabels, dim],
 * the dequantized weights).
 */
export function activationQuantizationBound(features: Float32Array, weight: Float32Array, numLabels: number, dim: number): { scale: number; bound: number } {
  const scale = dynamicScale(features);
  let worst = 0;
  for (let j = 0; j < numLabels; j++) {
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += Math.abs(weight[j * dim + i]);
    worst = Math.max(worst, sum);
  }
  return { scale, bound: (scale / 2) * worst };
}
