/**
 * Salesforce Pub/Sub API emulator: a gRPC server on loopback serving `eventbus.v1.PubSub`
 * (Subscribe, GetSchema, GetTopic) over the streaming emulator's retained event log, so one
 * published change reaches CometD and Pub/Sub subscribers alike. Checks the accesstoken,
 * instanceurl and tenantid metadata of every call, encodes events in Avro with evolving
 * schemas, honours num_requested, sends keepalives, and answers injected faults with
 * Salesforce's error trailers.
 */
import * as grpc from '@grpc/grpc-js';
import type { TokenGate } from '../streaming/bayeux.ts';
import type { EventLog } from '../streaming/event-log.ts';
import { pubSubService, tokenOrgId, type FetchRequest, type FetchResponse, type SchemaInfo, type TopicInfo } from './wire.ts';
import { PubSubErrorCode } from '../../core/errors.ts';
import { SchemaRegistry } from './schemas.ts';
import { failCall, SubscribeStream, type StreamContext } from './subscription.ts';
import { selfSignedCertificate } from './tls.ts';
import type { PubSubEmulator, PubSubEmulatorOptions, PubSubFault, PubSubStats } from './types.ts';

export type { PubSubEmulator, PubSubEmulatorOptions, PubSubFault, PubSubStats } from './types.ts';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** What the Pub/Sub emulator shares with the streaming emulator. */
export interface PubSubShared {
  log: EventLog;
  tokens: TokenGate;
}

/** Starts a Pub/Sub emulator over `shared.log`; resolves once it listens. */
export async function startPubSubEmulator(shared: PubSubShared, opts: PubSubEmulatorOptions = {}): Promise<PubSubEmulator> {
  const host = opts.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) throw new TypeError(`host: the Pub/Sub emulator binds loopback only, got '${host}'`);
  const keepaliveMs = opts.keepaliveMs ?? 270_000;
  const maxEventsPerResponse = opts.maxEventsPerResponse ?? 100;
  for (const [key, v] of [
    ['keepaliveMs', keepaliveMs],
    ['maxEventsPerResponse', maxEventsPerResponse],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new TypeError(`${key}: must be a positive number, got ${v}`);
  }
  const stats: PubSubStats = {
    streams: 0,
    subscribes: 0,
    delivered: 0,
    keepalives: 0,
    requested: 0,
    maxOutstanding: 0,
    unencodable: 0,
    schemaRequests: 0,
  };
  const schemas = new SchemaRegistry();
  const streams = new Set<SubscribeStream>();
  let stallUntil = 0;
  let replayFaults = 0;
  let corruptFaults = 0;
  const ctx: StreamContext = {
    log: shared.log,
    schemas,
    stats,
    keepaliveMs,
    maxEventsPerResponse,
    encoded: new WeakMap(),
    keepaliveIds: new Set(),
    stallRemaining: () => Math.max(0, stallUntil - Date.now()),
    takeReplayFault: () => replayFaults > 0 && replayFaults-- > 0,
    takeCorruptFault: () => corruptFaults > 0 && corruptFaults-- > 0,
    onClose: (s) => {
      if (streams.delete(s)) stats.streams = streams.size;
    },
  };

  /** Checks the auth metadata; answers the call with auth.error and returns false when refused. */
  function authorized(metadata: grpc.Metadata, refuse: (details: string) => void): boolean {
    const token = String(metadata.get('accesstoken')[0] ?? '');
    const instanceUrl = String(metadata.get('instanceurl')[0] ?? '');
    const tenant = String(metadata.get('tenantid')[0] ?? '');
    if (!shared.tokens.isValid(token)) refuse('the access token is missing, invalid or expired');
    else if (!/^https?:\/\/\S+$/.test(instanceUrl)) refuse('the instanceurl header is missing or not a URL');
    else if (!tenantMatches(token, tenant)) refuse(`the tenantid header ${JSON.stringify(tenant)} is not the org of the access token`);
    else return true;
    return false;
  }

  function unary<Req, Res>(handler: (req: Req) => Res | grpc.ServiceError): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const refuse = (details: string) =>
        failCall(
          {
            emit: (_e, err) => {
              callback(err as grpc.ServiceError);
              return true;
            },
          },
          grpc.status.UNAUTHENTICATED,
          PubSubErrorCode.authError,
          details,
        );
      if (!authorized(call.metadata, refuse)) return;
      const result = handler(call.request);
      if (result instanceof Error) callback(result);
      else callback(null, result);
    };
  }

  const implementation: grpc.UntypedServiceImplementation = {
    Subscribe: (call: grpc.ServerDuplexStream<FetchRequest, FetchResponse>) => {
      if (!authorized(call.metadata, (details) => failCall(call, grpc.status.UNAUTHENTICATED, PubSubErrorCode.authError, details))) return;
      const stream = new SubscribeStream(call, ctx);
      streams.add(stream);
      stats.streams = streams.size;
    },
    GetSchema: unary<{ schemaId: string }, SchemaInfo>((req) => {
      stats.schemaRequests++;
      const found = schemas.get(req.schemaId);
      if (!found) return serviceError(grpc.status.NOT_FOUND, `no schema with ID ${JSON.stringify(req.schemaId)}`);
      return { schemaJson: found.json, schemaId: found.id, rpcId: crypto.randomUUID() };
    }),
    GetTopic: unary<{ topicName: string }, TopicInfo>((req) => {
      if (!/^\/(data|event)\/[A-Za-z][A-Za-z0-9_]*$/.test(req.topicName))
        return serviceError(grpc.status.NOT_FOUND, `no topic ${JSON.stringify(req.topicName)}`);
      const version = schemas.forTopic(req.topicName);
      return { topicName: req.topicName, tenantGuid: '', canPublish: false, canSubscribe: true, schemaId: version.id, rpcId: crypto.randomUUID() };
    }),
    Publish: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback(serviceError(grpc.status.UNIMPLEMENTED, 'publish through the emulator control API')),
    PublishStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.emit('error', serviceError(grpc.status.UNIMPLEMENTED, 'not emulated')),
    ManagedSubscribe: (call: grpc.ServerDuplexStream<unknown, unknown>) =>
      call.emit('error', serviceError(grpc.status.UNIMPLEMENTED, 'not emulated')),
  };

  const server = new grpc.Server();
  server.addService(pubSubService(), implementation);
  const tls = opts.tls ?? false;
  const credentials = tls
    ? (() => {
        const { cert, key } = selfSignedCertificate();
        return grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(cert), private_key: Buffer.from(key) }], false);
      })()
    : grpc.ServerCredentials.createInsecure();
  const bindHost = host.includes(':') ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${bindHost}:${opts.port ?? 0}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });

  const forEachStream = (fn: (s: SubscribeStream) => void) => {
    for (const s of [...streams]) fn(s);
  };
  let notifyQueued: Set<string> | undefined;
  return {
    address: `${bindHost}:${port}`,
    tls,
    notify(channels) {
      // Coalesced: a burst of publishes wakes each stream once.
      if (notifyQueued) {
        for (const c of channels) notifyQueued.add(c);
        return;
      }
      notifyQueued = new Set(channels);
      setImmediate(() => {
        const queued = notifyQueued!;
        notifyQueued = undefined;
        forEachStream((s) => {
          if (s.topic !== undefined && queued.has(s.topic)) s.wake();
        });
      });
    },
    injectFault(fault: PubSubFault) {
      switch (fault.type) {
        case 'auth-error':
          shared.tokens.revoke();
          forEachStream((s) => s.fail(grpc.status.UNAUTHENTICATED, PubSubErrorCode.authError, 'the session expired or was revoked'));
          return;
        case 'unavailable':
          forEachStream((s) => s.fail(grpc.status.UNAVAILABLE, PubSubErrorCode.unavailable, 'The service is unavailable. Try again later.'));
          return;
        case 'replay-corrupted':
          replayFaults += Math.max(1, fault.count ?? 1);
          return;
        case 'corrupt-payload':
          corruptFaults += Math.max(1, fault.count ?? 1);
          return;
        case 'stall':
          stallUntil = Math.max(stallUntil, Date.now() + fault.durationMs);
          return;
      }
    },
    stats: () => ({ ...stats }),
    async close() {
      forEachStream((s) => s.close());
      server.forceShutdown();
    },
  };
}

/** The tenantid must name the token's org (15 or 18 characters); any non-empty one for other tokens. */
function tenantMatches(token: string, tenant: string): boolean {
  if (tenant === '') return false;
  const org = tokenOrgId(token);
  return org === undefined || org.slice(0, 15) === tenant.slice(0, 15);
}

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
