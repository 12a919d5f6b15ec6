/**
 * Salesforce Streaming API emulator: a Bayeux 1.0 long-polling server at `/cometd/<version>`
 * that behaves as docs/protocols.md §1 describes (cookies, bearer check, replay extension, error
 * texts, payload shapes), plus a control API for other processes. Every test, the demo and the
 * benchmark run against it, so it is built for volume: events are serialized once into a
 * shared retained log and read through per-subscription cursors.
 */
import type { AddressInfo } from 'node:net';
import { CHANGE_TYPES } from '../../core/model.ts';
import { BayeuxEngine, TokenGate } from './bayeux.ts';
import { handleControl } from './control.ts';
import { EventLog } from './event-log.ts';
import { Faults } from './faults.ts';
import { generateContactChanges, newContactPool } from './generate.ts';
import { ALL_CHANGES_CHANNEL, changeEventChannel, changeEventData, platformEventData, type ChangeContext } from './payloads.ts';
import { createStreamingServer } from './server.ts';
import { startPubSubEmulator } from '../pubsub/index.ts';
import { newAccessToken, OAuthEndpoint } from './oauth.ts';
import { RecordTable, seedContacts } from './records.ts';
import { RestApi } from './rest.ts';
import { EventPublishing } from './publish.ts';
import type { ChangeSpec, StreamingEmulator, StreamingEmulatorOptions } from './types.ts';

export type {
  ChangeSpec,
  FaultPhase,
  FaultSpec,
  GenerateContactOptions,
  GenerateResult,
  StreamingEmulator,
  StreamingEmulatorOptions,
  StreamingStats,
} from './types.ts';
export { ERR as STREAMING_ERRORS } from './faults.ts';
export { changeEventChannel, ALL_CHANGES_CHANNEL, salesforceId } from './payloads.ts';
export { MAX_BODY_BYTES } from './server.ts';
export type { EmulatorOAuthOptions } from './oauth.ts';
export type { RestCall } from './rest.ts';

const HOUR_MS = 3_600_000;

/** Options with every default filled in. */
type Settings = Required<StreamingEmulatorOptions>;

function settingsOf(opts: StreamingEmulatorOptions): Settings {
  const s: Settings = {
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    apiVersion: opts.apiVersion ?? '62.0',
    accessToken: opts.accessToken,
    connectTimeoutMs: opts.connectTimeoutMs ?? 110_000,
    clientTimeoutMs: opts.clientTimeoutMs ?? 40_000,
    maxEventsPerResponse: opts.maxEventsPerResponse ?? 2000,
    retentionMs: opts.retentionMs ?? 72 * HOUR_MS,
    pubsub: opts.pubsub ?? false,
    oauth: opts.oauth ?? {},
    queryBatchSize: opts.queryBatchSize ?? 2000,
    recordTable: opts.recordTable ?? true,
    bulkPageSize: opts.bulkPageSize ?? 10_000,
  };
  if (typeof s.accessToken !== 'string' || s.accessToken === '') throw new TypeError('accessToken: must be a non-empty string');
  if (!/^\d+\.\d$/.test(s.apiVersion)) throw new TypeError(`apiVersion: expected a version like '62.0', got '${s.apiVersion}'`);
  for (const key of ['connectTimeoutMs', 'clientTimeoutMs', 'maxEventsPerResponse', 'retentionMs', 'queryBatchSize', 'bulkPageSize'] as const) {
    if (!Number.isFinite(s[key]) || s[key] <= 0) throw new TypeError(`${key}: must be a positive number, got ${s[key]}`);
  }
  return s;
}

/** Starts an emulator and resolves once it listens. */
export async function startStreamingEmulator(opts: StreamingEmulatorOptions): Promise<StreamingEmulator> {
  const s = settingsOf(opts);
  const log = new EventLog();
  const faults = new Faults();
  const tokens = new TokenGate(s.accessToken);
  const engine = new BayeuxEngine(log, faults, tokens, s);
  const pubsub = s.pubsub === false ? undefined : await startPubSubEmulator({ log, tokens }, s.pubsub === true ? {} : s.pubsub);
  const records = new RecordTable();
  const oauth = new OAuthEndpoint(s.oauth, () => {
    const token = newAccessToken();
    tokens.add(token);
    return token;
  });
  // Platform events published over REST go to their channel like any other (a Flow would see them).
  const events = new EventPublishing((type, fields) => emulator.publishPlatformEvent(type, fields));
  const rest = new RestApi({
    records,
    oauth,
    isValid: (t) => tokens.isValid(t),
    apiVersion: s.apiVersion,
    queryBatchSize: s.queryBatchSize,
    bulkPageSize: s.bulkPageSize,
    events,
  });
  const pool = newContactPool();
  let published = 0;
  // Commit numbers are large and rise with gaps, like Salesforce's (11,657,372,702,432 in the docs).
  let commitNumber = 11_657_372_702_432n + BigInt(Math.floor(Math.random() * 1e9));
  const ctx: ChangeContext = {
    apiVersion: s.apiVersion,
    nextCommitNumber: () => (commitNumber += BigInt(1 + Math.floor(Math.random() * 64))),
    lastTransaction: undefined,
  };

  /** Stores one event on `channels` and wakes their subscribers; returns its replay ID. */
  function store(channels: readonly string[], build: (replayId: number) => string): number {
    const now = Date.now();
    log.expireBefore(now - s.retentionMs);
    const replayId = log.nextReplayId();
    log.append(replayId, channels, build(replayId), now);
    published++;
    engine.notify(channels);
    pubsub?.notify(channels);
    return replayId;
  }

  function publishChange(change: ChangeSpec): { replayId: number } {
    if (!CHANGE_TYPES.includes(change.changeType)) throw new TypeError(`changeType: unknown '${String(change.changeType)}'`);
    if (!Array.isArray(change.recordIds)) throw new TypeError('recordIds: must be an array');
    const channels = new Set([changeEventChannel(change.entityName), ALL_CHANGES_CHANNEL, ...(change.channels ?? [])]);
    if (s.recordTable) records.apply(change, change.commitTimestamp ?? Date.now());
    return { replayId: store([...channels], (id) => changeEventData(change, id, ctx)) };
  }

  const emulator: StreamingEmulator = {
    url: '',
    cometdUrl: '',
    publishChange,
    publishPlatformEvent(eventName, payload) {
      let eventUuid = '';
      const replayId = store([`/event/${eventName}`], (id) => {
        const built = platformEventData(eventName, payload, id);
        eventUuid = built.eventUuid;
        return built.data;
      });
      return { replayId, eventUuid };
    },
    publishRaw(channel, data) {
      return { replayId: store([channel], () => JSON.stringify(data) ?? 'null') };
    },
    generateContactChanges(count, genOpts = {}) {
      return generateContactChanges(pool, count, genOpts, (spec) => publishChange(spec).replayId);
    },
    injectFault: (fault) => engine.injectFault(fault),
    setAccessToken: (token) => tokens.set(token),
    expireRetention: (beforeReplayId) => void log.expireThrough(beforeReplayId),
    stats: () => ({
      published,
      delivered: engine.delivered,
      handshakes: engine.handshakes,
      connects: engine.connects,
      retained: log.size,
      restCalls: rest.calls.length,
      publishedOverRest: events.published.length,
      faultsFired: Object.fromEntries(faults.fired),
      faultsPending: faults.pending(),
      ...engine.counts(),
    }),
    pubsub,
    restCalls: () => [...rest.calls],
    publishedOverRest: (type) => events.published.filter((p) => type === undefined || p.type === type),
    setPublishLimit: (perHour) => {
      events.hourlyLimit = perHour;
    },
    failPublishes: (count) => {
      events.unavailable = count;
    },
    upsertRecord: (entityName, record) => records.upsert(entityName, record),
    seedContacts: (count, seedOpts) => seedContacts(records, count, seedOpts),
    getRecord: (entityName, id) => records.get(entityName, id),
    addAccessToken: (token) => tokens.add(token),
    close: async () => {
      await pubsub?.close();
      engine.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createStreamingServer({
    engine,
    apiVersion: s.apiVersion,
    control: (method, path, body) => handleControl(emulator, method, path, body),
    rest: (req) => rest.handle(req),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(s.port, s.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const url = `http://${host}:${port}`;
  rest.instanceUrl = url;
  return Object.assign(emulator, { url, cometdUrl: `${url}/cometd/${s.apiVersion}` });
}
