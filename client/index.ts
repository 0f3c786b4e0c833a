// The typed client's public surface (see client.ts for how the pieces fit).
export { InferenceClient, InferStream } from './client';
export type {
  ChannelClientOptions,
  ClientOptions,
  CommonClientOptions,
  InferOptions,
  ShardPlacement,
  StreamInferOptions,
  StreamOptions,
} from './client';
export { InferenceError } from './inference-error';
export { InferResult } from './result';
export type { DataTypes, Datatype, InputData, InputSpec, Inputs, NamedInput, OutputTensor, TensorOf } from './tensor';
export { ChannelTransport, type Transport } from './transport';
export { ProxylessTransport, type ProxylessOptions } from './transport-proxyless';
export type { ParamValue } from './wire';
