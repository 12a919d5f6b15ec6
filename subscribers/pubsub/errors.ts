/**
 * The one place that decides what a Pub/Sub stream error means (docs/protocols.md §2): every error
 * ends the stream, and the `error-code` trailer says whether to get a new token, give up on
 * the stored replay ID, or just come back later.
 */
import * as grpc from '@grpc/grpc-js';
import { PubSubErrorCode } from '../../src/core/errors.ts';

/** What the subscriber does about a stream that ended with an error. */
export type StreamErrorAction =
  /** Get a new access token, then resubscribe from the stored replay ID. */
  | 'reauthenticate'
  /** The replay ID was refused (expired, corrupted): resubscribe from the fallback and say data may be lost. */
  | 'replay-fallback'
  /** Resubscribe from the stored replay ID after a backoff (with jitter for client limits). */
  | 'retry';

/** A stream error, classified. */
export interface StreamError {
  action: StreamErrorAction;
  /** The gRPC status code. */
  status: number;
  /** Salesforce's `error-code` trailer, when there was one. */
  errorCode: string | undefined;
  details: string;
}

/** Classifies an error a Subscribe call ended with. */
export function classifyStreamError(err: Partial<grpc.ServiceError>): StreamError {
  const errorCode = err.metadata?.get('error-code')[0]?.toString();
  const status = err.code ?? grpc.status.UNKNOWN;
  const details = err.details ?? err.message ?? 'unknown error';
  let action: StreamErrorAction = 'retry';
  if (errorCode === PubSubErrorCode.authError || status === grpc.status.UNAUTHENTICATED) action = 'reauthenticate';
  else if (errorCode === PubSubErrorCode.replayCorrupted || (errorCode?.includes('.replayid.') ?? false)) action = 'replay-fallback';
  return { action, status, errorCode, details };
}
