// Where the Open Inference Protocol's calls go, written once for every
// process that serves or sends them: the gRPC method paths of
// inference.GRPCInferenceService (a call's `:path`) and the REST routes.

/** The gRPC service, as inference.proto names it. */
export const SERVICE = 'inference.GRPCInferenceService';

/** The `:path` of a call to method `name` of the service (the name as inference.proto writes it). */
export function methodPath<N extends string>(name: N): `/${typeof SERVICE}/${N}` {
  return `/${SERVICE}/${name}` as const;
}

/** The `:path` of each method of the service. */
export const METHOD = {
  ServerLive: methodPath('ServerLive'),
  ServerReady: methodPath('ServerReady'),
  ServerMetadata: methodPath('ServerMetadata'),
  ModelReady: methodPath('ModelReady'),
  ModelMetadata: methodPath('ModelMetadata'),
  ModelInfer: methodPath('ModelInfer'),
  ModelStreamInfer: methodPath('ModelStreamInfer'),
  ModelStatistics: methodPath('ModelStatistics'),
} as const;

/** The REST routes that name no model. */
export const REST_PATH = { live: '/v2/health/live', ready: '/v2/health/ready', server: '/v2' } as const;

/**
 * /v2/models/{model}[/versions/{version}][/(ready|infer|stats)]: groups 1 (model), 2 (version,
 * when given) and 3 (the action, absent for the model's metadata), still percent-encoded.
 */
export const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer|stats))?$/;

/** The REST path MODEL_PATH reads back: model and version (when given) percent-encoded, action '' for the metadata. */
export function modelPath(model: string, version: string | undefined, action: 'ready' | 'infer' | 'stats' | ''): string {
  const m = `/v2/models/${encodeURIComponent(model)}`;
  const v = version ? `${m}/versions/${encodeURIComponent(version)}` : m;
  return action ? `${v}/${action}` : v;
}
