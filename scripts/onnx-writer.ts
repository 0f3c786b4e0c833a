// A small builder for ONNX model files, so the bundled models are generated
// from a seed at build time instead of committed as opaque binaries. It
// encodes ModelProto with protobufjs from proto/onnx.proto (ONNX's own field
// numbers), loaded at run time like the other protos.
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { PROTO_DIR } from '../protocol/proto';

/** Element types the writer can declare (values of onnx.TensorProto.DataType). */
export const ElemType = { FLOAT: 1, INT32: 6, INT64: 7, DOUBLE: 11 } as const;
/** One of the ElemType values. */
export type ElemType = (typeof ElemType)[keyof typeof ElemType];

/** A graph input or output: a fixed size, or a symbol (e.g. 'batch') for a dynamic dimension. */
export interface ValueSpec {
  /** Value name, as nodes refer to it. */
  readonly name: string;
  /** Element type. */
  readonly elemType: ElemType;
  /** Dimensions: sizes, or symbol names for dynamic ones. */
  readonly shape: readonly (number | string)[];
}

/** A constant FP32 tensor stored in the model (weights, biases). */
export interface InitializerSpec {
  /** Value name, as nodes refer to it. */
  readonly name: string;
  /** Shape; its product must equal data.length. */
  readonly dims: readonly number[];
  /** Elements, row-major. */
  readonly data: Float32Array;
}

/** An attribute value: numbers are written as INT when integral, else FLOAT; arrays as INTS. */
export type AttributeValue = number | readonly number[] | string;

/** One node: an operator from the default (ai.onnx) domain. */
export interface NodeSpec {
  /** Operator, e.g. 'Gemm'. */
  readonly opType: string;
  /** Names of the values it reads, in the operator's order. */
  readonly inputs: readonly string[];
  /** Names of the values it produces. */
  readonly outputs: readonly string[];
  /** Node name; defaults to its first output's. */
  readonly name?: string;
  /** Operator attributes by name. */
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

/** A whole model: its graph and the versions it declares. */
export interface ModelSpec {
  /** The graph's name. */
  readonly graphName: string;
  /** Nodes in topological order. */
  readonly nodes: readonly NodeSpec[];
  /** Constant tensors (weights). */
  readonly initializers: readonly InitializerSpec[];
  /** Graph inputs callers feed. */
  readonly inputs: readonly ValueSpec[];
  /** Graph outputs callers fetch. */
  readonly outputs: readonly ValueSpec[];
  /** ONNX IR version; 8 is read by every ONNX Runtime since 1.10. */
  readonly irVersion?: number;
  /** Default-domain opset version. */
  readonly opset?: number;
  /** Tool name recorded in the file; defaults to 'infergate'. */
  readonly producerName?: string;
  /** Free-text description recorded in the file. */
  readonly docString?: string;
}

let modelType: protobuf.Type | undefined;

/** The onnx.ModelProto type, loaded once per process. */
function modelProto(): protobuf.Type {
  // keepCase: the objects below use the .proto's snake_case names, as everywhere else in the project.
  modelType ??= new protobuf.Root().loadSync(path.join(PROTO_DIR, 'onnx.proto'), { keepCase: true }).lookupType('onnx.ModelProto');
  return modelType;
}

/** Encodes a model to the bytes of a .onnx file; equal specs give equal bytes. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const type = modelProto();
  const message = type.fromObject({
    ir_version: spec.irVersion ?? 8,
    producer_name: spec.producerName ?? 'infergate',
    // No producer_version or timestamps: the output must not change between builds.
    doc_string: spec.docString ?? '',
    opset_import: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: spec.graphName,
      node: spec.nodes.map(nodeObject),
      initializer: spec.initializers.map(initializerObject),
      input: spec.inputs.map(valueInfoObject),
      output: spec.outputs.map(valueInfoObject),
    },
  });
  return type.encode(message).finish();
}

function nodeObject(n: NodeSpec): object {
  return {
    op_type: n.opType,
    input: [...n.inputs],
    output: [...n.outputs],
    name: n.name ?? n.outputs[0],
    attribute: Object.entries(n.attributes ?? {}).map(([name, v]) => attributeObject(name, v)),
  };
}

// AttributeProto.AttributeType values, written alongside the value as IR >= 2 requires.
const FLOAT = 1,
  INT = 2,
  STRING = 3,
  INTS = 7;

function attributeObject(name: string, v: AttributeValue): object {
  if (typeof v === 'string') return { name, type: STRING, s: Buffer.from(v, 'utf8') };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: INT, i: v } : { name, type: FLOAT, f: v };
  return { name, type: INTS, ints: [...v] };
}

function initializerObject(t: InitializerSpec): object {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length)
    throw new Error(`initializer ${t.name}: dims [${t.dims.join(', ')}] hold ${count} elements, data has ${t.data.length}`);
  // raw_data is little-endian; on such hosts (all Node's tier-1 platforms) the array's bytes go in as they are.
  if (os.endianness() !== 'LE') throw new Error('onnx-writer: big-endian hosts are not supported');
  const raw = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name: t.name, data_type: ElemType.FLOAT, dims: [...t.dims], raw_data: raw };
}

function valueInfoObject(v: ValueSpec): object {
  const dim = v.shape.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d }));
  return { name: v.name, type: { tensor_type: { elem_type: v.elemType, shape: { dim } } } };
}
