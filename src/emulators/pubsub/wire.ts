/**
 * The Pub/Sub emulator's side of the gRPC wire: Salesforce's own `pubsub_api.proto` (the
 * vendor's file, kept once in subscribers/pubsub/ and read here by path, not through the
 * subscriber's module), the messages the emulator reads and writes, and the request fields
 * it interprets itself (replay preset, tenant ID), so nothing the subscriber gets wrong can be
 * mirrored by the emulator.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Salesforce's pubsub_api.proto, as published in forcedotcom/pub-sub-api. */
const VENDOR_PROTO = fileURLToPath(new URL('../../../subscribers/pubsub/pubsub_api.proto', import.meta.url));

/** `ReplayPreset` of the proto: LATEST = 0, EARLIEST = 1, CUSTOM = 2. */
export const PRESET = { LATEST: 0, EARLIEST: 1, CUSTOM: 2 } as const;
export type Preset = (typeof PRESET)[keyof typeof PRESET];

/** A FetchRequest as proto-loader hands it over (camelCase, bytes as Buffers). */
export interface FetchRequest {
  topicName?: string;
  replayPreset?: number | string;
  replayId?: Buffer;
  numRequested?: number;
  authRefresh?: string;
}

/** One event of a FetchResponse. */
export interface ConsumerEvent {
  event: { id: string; schemaId: string; payload: Buffer; headers?: { key: string; value: Buffer }[] };
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

let service: grpc.ServiceDefinition | undefined;

/** The `eventbus.v1.PubSub` service definition, loaded once from the vendor's proto. */
export function pubSubService(): grpc.ServiceDefinition {
  if (service) return service;
  // proto-loader defaults, as Salesforce's Node examples load it: enums as numbers, bytes as Buffers.
  const root = grpc.loadPackageDefinition(protoLoader.loadSync(VENDOR_PROTO, {})) as unknown as {
    eventbus: { v1: { PubSub: grpc.ServiceClientConstructor } };
  };
  service = root.eventbus.v1.PubSub.service;
  return service;
}

/** The replay preset of a request; a client may send the enum's number or its name. Undefined when unknown. */
export function presetOfRequest(value: number | string | undefined): Preset | undefined {
  switch (value) {
    case undefined:
    case 0:
    case 'LATEST':
      return PRESET.LATEST;
    case 1:
    case 'EARLIEST':
      return PRESET.EARLIEST;
    case 2:
    case 'CUSTOM':
      return PRESET.CUSTOM;
    default:
      return undefined;
  }
}

/**
 * The org ID an access token names: a Salesforce session ID starts with the 15- or
 * 18-character org ID (`00D…`) and a `!`. Undefined for any other token (the emulator's tests
 * may use plain ones).
 */
export function tokenOrgId(token: string): string | undefined {
  const m = /^(00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)!/.exec(token);
  return m?.[1];
}
