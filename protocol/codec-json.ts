// The REST body of the Open Inference Protocol: JSON in, JSON out. Tensor
// data may be flat or nested (row-major) arrays; we flatten and type it
// into the same typed arrays the gRPC path produces.
import { invalidArgument } from './status';
import type { DecodedInput, SchedulingParams } from './decoded-request';
import { DATATYPES, typedFromNumbers, type Datatype, type Tensor, type TensorData } from './tensor';

/** The parsed request body, loosely typed until checked. */
export interface JsonInferBody {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: DecodedInput[];
  outputs: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and type-checks an infer request body (throws INVALID_ARGUMENT naming the field). */
export function decodeJsonBody(text: string): JsonInferBody & { params: SchedulingParams } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObj(body)) throw invalidArgument('request body must be a JSON object with an "inputs" array');
  if (body.id !== undefined && typeof body.id !== 'string') throw invalidArgument('"id" must be a string');
  const params = body.parameters;
  if (params !== undefined && !isObj(params)) throw invalidArgument('"parameters" must be an object');
  if (!Array.isArray(body.inputs)) throw invalidArgument('"inputs" must be an array of {name, shape, datatype, data}');
  const inputs = body.inputs.map((t, i) => decodeJsonInput(t, i));
  let outputs: string[] = [];
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw invalidArgument('"outputs" must be an array of {name}');
    outputs = body.outputs.map((o, i) => {
      if (!isObj(o) || typeof o.name !== 'string') throw invalidArgument(`outputs[${i}].name must be a string`);
      return o.name;
    });
  }
  return { id: body.id as string | undefined, parameters: params, inputs, outputs, params: jsonParams(params ?? {}) };
}

function jsonParams(p: Record<string, unknown>): SchedulingParams {
  const int = (k: string): number | undefined => {
    const v = p[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v))
      throw invalidArgument(`parameter '${k}' is ${JSON.stringify(v)}; expected an integer`);
    return v;
  };
  return { priority: int('priority'), timeoutUs: int('timeout') };
}

function decodeJsonInput(t: unknown, i: number): DecodedInput {
  if (!isObj(t)) throw invalidArgument(`inputs[${i}] must be an object {name, shape, datatype, data}`);
  const where = typeof t.name === 'string' ? `input '${t.name}'` : `inputs[${i}]`;
  if (typeof t.name !== 'string' || !t.name) throw invalidArgument(`inputs[${i}].name must be a non-empty string`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw invalidArgument(`${where} shape must be an array of non-negative integers`);
  }
  if (typeof t.datatype !== 'string' || !DATATYPES.includes(t.datatype as Datatype)) {
    throw invalidArgument(`${where} datatype is ${JSON.stringify(t.datatype)}; expected one of ${DATATYPES.join(', ')}`);
  }
  if (!Array.isArray(t.data)) throw invalidArgument(`${where} data must be an array (flat or nested)`);
  const dt = t.datatype as Datatype;
  return { name: t.name, datatype: dt, shape: t.shape as number[], data: typedFromJson(where, dt, t.data.flat(Infinity)) };
}

function typedFromJson(where: string, dt: Datatype, flat: unknown[]): TensorData {
  const bad = (k: number, want: string) => invalidArgument(`${where} data[${k}] is ${JSON.stringify(flat[k])}; expected ${want} for ${dt}`);
  if (dt === 'BYTES') {
    return flat.map((v, k) => {
      if (typeof v !== 'string') throw bad(k, 'a string');
      return v;
    });
  }
  if (dt === 'FP16') throw invalidArgument(`${where} is FP16, which JSON cannot carry; use the gRPC raw_input_contents`);
  if (dt === 'BOOL') {
    return Uint8Array.from(flat, (v, k) => {
      if (typeof v !== 'boolean') throw bad(k, 'true or false');
      return v ? 1 : 0;
    });
  }
  const isInt = dt !== 'FP32' && dt !== 'FP64';
  for (let k = 0; k < flat.length; k++) {
    const v = flat[k];
    if (typeof v !== 'number' || (isInt && !Number.isInteger(v))) throw bad(k, isInt ? 'an integer' : 'a number');
  }
  return typedFromNumbers(dt, flat as number[]);
}

/** JSON value array of a tensor (bigints become numbers, BOOL becomes booleans). */
function jsonData(t: Tensor): unknown[] {
  const d = t.data;
  if (Array.isArray(d)) return d;
  if (t.datatype === 'BOOL') return Array.from(d as Uint8Array, (v) => v !== 0);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d, (v) => Number(v));
  return Array.from(d as ArrayLike<number>);
}

/** The response body. */
export function encodeJsonResponse(model: string, version: string, id: string, outputs: readonly Tensor[]): string {
  return JSON.stringify({
    model_name: model,
    model_version: version,
    ...(id ? { id } : {}),
    outputs: outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: jsonData(t) })),
  });
}
