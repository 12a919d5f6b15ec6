/**
 * The Pub/Sub API's gRPC interface, loaded from `pubsub_api.proto` with @grpc/proto-loader,
 * and the TypeScript shapes of the messages we use (proto-loader's camelCase field names,
 * bytes as Buffers). Shared by the subscriber and the emulator so both speak the same wire.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Path of the proto file. */
export const PROTO_PATH = fileURLToPath(new URL('./pubsub_api.proto', import.meta.url));

/** The org ID a Salesforce access token starts with (`00D…!…`): the `tenantid` header of every call. */
export function orgIdOf(token: string): string | undefined {
  const bang = token.indexOf('!');
  const prefix = bang > 0 ? token.slice(0, bang) : '';
  return /^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$/.test(prefix) ? prefix : undefined;
}

/** ReplayPreset enum values. */
export const REPLAY_PRESET = { LATEST: 0, EARLIEST: 1, CUSTOM: 2 } as const;
export type ReplayPresetValue = (typeof REPLAY_PRESET)[keyof typeof REPLAY_PRESET];

export interface FetchRequest {
  topicName?: string;
  /** A number, or the enum name when a client loads enums as strings. */
  replayPreset?: number | string;
  replayId?: Buffer;
  numRequested?: number;
  authRefresh?: string;
}

export interface ProducerEvent {
  id: string;
  schemaId: string;
  payload: Buffer;
  headers?: { key: string; value: Buffer }[];
}

export interface ConsumerEvent {
  event: ProducerEvent;
  replayId: Buffer;
}

export interface FetchResponse {
  events: ConsumerEvent[];
  latestReplayId: Buffer;
  rpcId: string;
  pendingNumRequested: number;
}

export interface SchemaInfo {
  schemaJson: string;
  schemaId: string;
  rpcId: string;
}

export interface TopicInfo {
  topicName: string;
  tenantGuid: string;
  canPublish: boolean;
  canSubscribe: boolean;
  schemaId: string;
  rpcId: string;
}

/** The generated client of `eventbus.v1.PubSub` (the calls we make). */
export interface PubSubClient extends grpc.Client {
  Subscribe(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<FetchRequest, FetchResponse>;
  GetSchema(
    request: { schemaId: string },
    metadata: grpc.Metadata,
    callback: (err: grpc.ServiceError | null, value?: SchemaInfo) => void,
  ): grpc.ClientUnaryCall;
  GetTopic(
    request: { topicName: string },
    metadata: grpc.Metadata,
    callback: (err: grpc.ServiceError | null, value?: TopicInfo) => void,
  ): grpc.ClientUnaryCall;
}

interface LoadedPackage {
  client: new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => PubSubClient;
  service: grpc.ServiceDefinition;
}

let loaded: LoadedPackage | undefined;

/** Loads the proto once: the client constructor and the service definition for a server. */
export function pubSubPackage(): LoadedPackage {
  if (loaded) return loaded;
  // Default proto-loader options, as Salesforce's Node examples and the public client use:
  // camelCase names, enums as numbers, bytes as Buffers.
  const definition = protoLoader.loadSync(PROTO_PATH, {});
  const root = grpc.loadPackageDefinition(definition) as unknown as { eventbus: { v1: { PubSub: grpc.ServiceClientConstructor } } };
  const ctor = root.eventbus.v1.PubSub;
  loaded = { client: ctor as unknown as LoadedPackage['client'], service: ctor.service };
  return loaded;
}

/** Reads a preset that may arrive as a number or an enum name. */
export function presetOf(value: number | string | undefined): ReplayPresetValue | undefined {
  if (value === undefined || value === 0 || value === 'LATEST') return REPLAY_PRESET.LATEST;
  if (value === 1 || value === 'EARLIEST') return REPLAY_PRESET.EARLIEST;
  if (value === 2 || value === 'CUSTOM') return REPLAY_PRESET.CUSTOM;
  return undefined;
}
