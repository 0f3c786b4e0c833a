// recommend: scores a user's candidate items with the ranker and returns the
// best ten. An example of a workflow model (see sidecar/runtime/workflow.ts): the
// feature building and top-k run here, the scoring runs as ranker requests
// that batch with everyone else's.
//
// Inputs:  user_id INT64 [1], candidate_ids INT64 [n], 1 <= n <= 1024
// Outputs: item_ids INT64 [k], scores FP32 [k], k = min(10, n), by score
//          descending (ties: earlier candidate first)
//
// Features: the ranker reads 256 floats per (user, candidate): a 128-float
// pseudo-embedding of the user followed by one of the candidate, so scores
// depend on both. Element j of an id's embedding is
//
//   e(id, salt)[j] = 2 * fmix32(fold(id) ^ imul(j + 1, 0x9e3779b1) ^ salt) / 2^32 - 1
//
// with fold(id) = low32(id) ^ high32(id) of the two's-complement int64,
// fmix32 MurmurHash3's 32-bit finaliser, salt 0x75736572 ('user') for the
// user and 0x6974656d ('item') for the candidate; so every element lies in
// [-1, 1) and equal ids always give equal features.
import { invalidArgument } from '../../protocol/status';
import type { ModelConfig } from '../../sidecar/repository/config-types';
import type { ModelRunner } from '../../sidecar/scheduler/types';
import type { Tensor } from '../../protocol/tensor';
import type { WorkflowContext } from '../../sidecar/runtime/workflow';

/** The model that scores candidates. */
export const RANKER = 'ranker';
/** Width of the ranker's feature vector: user half, then candidate half. */
export const FEATURES = 256;
/** Items returned at most. */
export const TOP_K = 10;
/** Candidates accepted per request; bounds the work one request can ask for. */
export const MAX_CANDIDATES = 1024;
// The ranker's max_batch_size (models/ranker/config.yaml): larger candidate
// lists go as several ranker requests, which its batcher runs side by side.
const RANKER_MAX_BATCH = 64;

const HALF = FEATURES / 2;
const USER_SALT = 0x75736572;
const ITEM_SALT = 0x6974656d;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Writes e(id, salt) (see the file comment) into out[offset .. offset + 128). */
function embed(id: bigint, salt: number, out: Float32Array, offset: number): void {
  const fold = Number(BigInt.asUintN(32, id)) ^ Number(BigInt.asUintN(32, id >> 32n));
  for (let j = 0; j < HALF; j++) {
    out[offset + j] = (2 * fmix32(fold ^ Math.imul(j + 1, 0x9e3779b1) ^ salt)) / 4294967296 - 1;
  }
}

/** Writes the 256 features of (user, candidate) into out[offset .. offset + 256). */
export function recommendFeatures(userId: bigint, candidateId: bigint, out: Float32Array, offset = 0): void {
  embed(userId, USER_SALT, out, offset);
  embed(candidateId, ITEM_SALT, out, offset + HALF);
}

/** The workflow entry point (see sidecar/runtime/workflow.ts). */
export function createWorkflow(_config: ModelConfig, ctx: WorkflowContext): ModelRunner {
  return {
    run: (inputs) => recommend(ctx, inputs),
    close: async () => undefined,
  };
}

async function recommend(ctx: WorkflowContext, inputs: readonly Tensor[]): Promise<Tensor[]> {
  const user = int64Input(inputs, 'user_id');
  const candidates = int64Input(inputs, 'candidate_ids');
  if (user.length !== 1) throw invalidArgument(`input 'user_id' has ${user.length} elements; expected exactly 1`);
  const n = candidates.length;
  if (n < 1 || n > MAX_CANDIDATES) throw invalidArgument(`input 'candidate_ids' has ${n} elements; expected 1 to ${MAX_CANDIDATES}`);

  const features = new Float32Array(n * FEATURES);
  // The user half is the same for every candidate: build it once, copy it per row.
  embed(user[0], USER_SALT, features, 0);
  for (let i = 0; i < n; i++) {
    if (i > 0) features.copyWithin(i * FEATURES, 0, HALF);
    embed(candidates[i], ITEM_SALT, features, i * FEATURES + HALF);
  }

  const calls: Promise<Tensor[]>[] = [];
  for (let start = 0; start < n; start += RANKER_MAX_BATCH) {
    const rows = Math.min(RANKER_MAX_BATCH, n - start);
    const data = features.subarray(start * FEATURES, (start + rows) * FEATURES);
    calls.push(ctx.infer(RANKER, undefined, [{ name: 'features', datatype: 'FP32', shape: [rows, FEATURES], data }]));
  }
  const scores = new Float32Array(n);
  let offset = 0;
  for (const [score] of await Promise.all(calls)) {
    scores.set(score.data as Float32Array, offset);
    offset += score.data.length;
  }

  const order = Array.from({ length: n }, (_, i) => i);
  // Array.prototype.sort is stable, so equal scores keep candidate order.
  order.sort((a, b) => scores[b] - scores[a]);
  const k = Math.min(TOP_K, n);
  const itemIds = new BigInt64Array(k);
  const topScores = new Float32Array(k);
  for (let r = 0; r < k; r++) {
    itemIds[r] = candidates[order[r]];
    topScores[r] = scores[order[r]];
  }
  return [
    { name: 'item_ids', datatype: 'INT64', shape: [k], data: itemIds },
    { name: 'scores', datatype: 'FP32', shape: [k], data: topScores },
  ];
}

/** The named input's elements, or INVALID_ARGUMENT naming it. */
function int64Input(inputs: readonly Tensor[], name: string): BigInt64Array {
  const t = inputs.find((x) => x.name === name);
  if (!t) throw invalidArgument(`input '${name}' is missing`);
  if (t.datatype !== 'INT64' || !(t.data instanceof BigInt64Array))
    throw invalidArgument(`input '${name}' is ${t.datatype}; expected INT64`);
  return t.data;
}
