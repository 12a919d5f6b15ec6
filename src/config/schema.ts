/**
 * Step 1 of the config: the zod schema, the one source of truth. Every field carries a
 * description and a default (or is required and says so); `write-schema.ts` publishes it as
 * JSON Schema for editors, and `load.ts` parses, cross-checks (checks.ts) and resolves it.
 */
import { z } from 'zod';
import { CHANGE_TYPES } from '../core/model.ts';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A reference to an environment variable, resolved by `load`. */
export const EnvRefSchema = z
  .strictObject({
    env: z
      .string()
      .regex(ENV_NAME, 'must be an environment variable name (letters, digits, _)')
      .describe('Name of the environment variable that holds the value.'),
  })
  .describe('Reference to an environment variable, e.g. {"env": "SF_INSTANCE_URL"}.');

/**
 * Keys whose values are secrets: they are accepted only as `{"env": ...}` and their values are
 * never shown in an error message. Auth methods added later extend this list.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'accessToken',
  'clientSecret',
  'privateKey',
  'refreshToken',
  'password',
  'token',
  // A database URL may carry a password.
  'url',
]);

/** An environment reference to a secret; a literal is refused without being echoed. */
function secretEnvRef(example: string) {
  return z.strictObject(
    { env: EnvRefSchema.shape.env },
    {
      error: (issue) =>
        typeof issue.input === 'string'
          ? `is a literal secret: secrets are accepted only as an environment reference such as {"env": "${example}"} (value not shown)`
          : `must be an environment reference such as {"env": "${example}"}`,
    },
  );
}

/** A secret: only by environment reference, so it never sits in a file under version control. */
function secretRef(example: string) {
  return secretEnvRef(example).default({ env: example }).describe(`Secret, as an environment reference. Default: {"env": "${example}"}.`);
}

/** An optional secret: absent means the feature it guards is off. */
function optionalSecretRef(example: string) {
  return secretEnvRef(example).optional().describe(`Secret, as an environment reference such as {"env": "${example}"}. Optional.`);
}

/** A literal value or an environment reference (non-secret settings that differ per deployment). */
function valueOrEnv(literal: z.ZodString, example: string, description: string) {
  return z
    .union([literal, EnvRefSchema], { error: `must be a string or an environment reference such as {"env": "${example}"}` })
    .default({ env: example })
    .describe(`${description} Default: {"env": "${example}"}.`);
}

const endpointString = z.string().min(1);

const AccessTokenAuthSchema = z
  .strictObject({
    method: z.literal('access_token').describe('A ready OAuth access token (for example from `sf org display`).'),
    accessToken: secretRef('SF_ACCESS_TOKEN'),
  })
  .describe('Authenticate with an access token taken from the environment.');

const SfAliasAuthSchema = z
  .strictObject({
    method: z
      .literal('sf_alias')
      .describe('An org the `sf` CLI is logged in to (`sf org login web --alias <alias>`), read from ~/.sfdx through @salesforce/core.'),
    alias: z.string().min(1, 'must name an alias or username').describe('Alias or username of the org, as `sf org list` shows it. Required.'),
  })
  .describe('Authenticate as the `sf` CLI does: its stored auth file, refreshed with its refresh token. The instance URL comes from the org.');

/** The connected app's consumer key, as every OAuth flow takes it. */
function connectedAppKey(description = 'Connected app consumer key.') {
  return valueOrEnv(z.string().min(1), 'SF_CLIENT_ID', description);
}

/** The connected app's consumer secret's environment variable. */
const CLIENT_SECRET_ENV = 'SF_CLIENT_SECRET';

const RefreshTokenAuthSchema = z
  .strictObject({
    method: z.literal('refresh_token').describe('OAuth refresh token flow of a connected app.'),
    clientId: connectedAppKey(),
    clientSecret: optionalSecretRef(CLIENT_SECRET_ENV),
    refreshToken: secretRef('SF_REFRESH_TOKEN'),
    loginUrl: z
      .union([endpointString, EnvRefSchema], { error: 'must be a URL or an environment reference' })
      .optional()
      .describe('Where the token endpoint is (https://login.salesforce.com, https://test.salesforce.com or My Domain); default: the instance URL.'),
  })
  .describe('Authenticate with a refresh token; a new access token is requested whenever Salesforce refuses the current one.');

const ClientCredentialsAuthSchema = z
  .strictObject({
    method: z.literal('client_credentials').describe('OAuth client credentials flow (the connected app runs as its configured user).'),
    clientId: connectedAppKey(),
    clientSecret: secretRef(CLIENT_SECRET_ENV),
  })
  .describe("Authenticate with the client credentials flow against the org's My Domain (the instance URL).");

const JwtBearerAuthSchema = z
  .strictObject({
    method: z.literal('jwt_bearer').describe('OAuth JWT bearer flow: a connected app with a certificate, no interactive login.'),
    clientId: connectedAppKey('Connected app consumer key (the JWT issuer).'),
    username: valueOrEnv(z.string().min(1), 'SF_USERNAME', 'Username the bridge runs as (the JWT subject).'),
    privateKey: secretRef('SF_JWT_PRIVATE_KEY'),
    loginUrl: z
      .union([endpointString, EnvRefSchema], { error: 'must be a URL or an environment reference' })
      .default('https://login.salesforce.com')
      .describe('Token endpoint base and JWT audience: https://login.salesforce.com, https://test.salesforce.com (sandboxes) or a My Domain URL.'),
  })
  .describe("Authenticate with a JWT signed (RS256) by the connected app's private key, given in PEM form through the environment.");

const EnrichmentSchema = z
  .strictObject({
    cacheTtlMs: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .default(5000)
      .describe('How long a fetched record is reused for later events (ms); short, because records change.'),
    cacheMax: z.number().int().min(0).max(1_000_000).default(10_000).describe('Most records kept in the fetch cache.'),
    idsPerQuery: z.number().int().min(1).max(200).default(200).describe('Record IDs per `WHERE Id IN (...)` query.'),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(5)
      .describe(
        'Attempts of a failing fetch before the events that need it are dead-lettered with the reason; waits between them are jittered, doubling from 0.5 s up to 30 s.',
      ),
  })
  .prefault({})
  .describe('Fetching record fields from Salesforce: gap events, resyncs and fields an UPDATE does not carry.');

export const SalesforceSchema = z
  .strictObject({
    instanceUrl: valueOrEnv(
      endpointString,
      'SF_INSTANCE_URL',
      'Org instance URL (https://<MyDomain>.my.salesforce.com); http only for 127.0.0.1 or localhost. With `sf_alias` the auth file supplies it.',
    ),
    apiVersion: z
      .string()
      .regex(/^\d{2,3}\.0$/, 'must look like "62.0"')
      .default('62.0')
      .describe('Salesforce API version used for streaming and REST calls.'),
    auth: z
      .discriminatedUnion('method', [
        AccessTokenAuthSchema,
        SfAliasAuthSchema,
        RefreshTokenAuthSchema,
        ClientCredentialsAuthSchema,
        JwtBearerAuthSchema,
      ])
      .prefault({ method: 'access_token' })
      .describe('How the bridge gets a Salesforce access token; `method` selects the kind.'),
    transport: z
      .enum(['cometd', 'pubsub'])
      .default('cometd')
      .describe(
        'How events are received: cometd (Streaming API, long polling) or pubsub (Pub/Sub API over gRPC, with real flow control; Salesforce recommends it).',
      ),
    pubsubUrl: z
      .string()
      .regex(/^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. "api.pubsub.salesforce.com:7443"')
      .default('api.pubsub.salesforce.com:7443')
      .describe('Pub/Sub API endpoint as host:port (transport pubsub). TLS, except plaintext for 127.0.0.1, localhost or [::1] (emulators, tests).'),
    ignoreChangeOrigins: z
      .array(z.string().min(1))
      .default([])
      .describe(
        "Loop prevention: changes whose changeOrigin names one of these API client IDs (the `client=` part) are skipped, e.g. the bridge's own write-backs.",
      ),
    enrichment: EnrichmentSchema,
  })
  .prefault({})
  .describe('The Salesforce org to subscribe to.');

export const ChannelSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^\/(data|event)\/[A-Za-z][A-Za-z0-9_]*$/, 'must be a channel such as "/data/ContactChangeEvent" or "/event/MC_Journey_Entry__e"')
      .describe(
        'Channel or topic: /data/<Object>ChangeEvent, /data/<Object>__ChangeEvent, /data/ChangeEvents, /data/<Name>__chn or /event/<Name>__e. Required.',
      ),
    replayFrom: z
      .union([z.literal(-1), z.literal(-2)], { error: 'must be -1 (new events only) or -2 (all retained events)' })
      .default(-1)
      .describe('Where to start when no checkpoint is stored: -1 new events only, -2 everything retained (72 hours).'),
    replayFallback: z
      .union([z.literal(-1), z.literal(-2)], { error: 'must be -1 (new events only) or -2 (all retained events)' })
      .default(-2)
      .describe(
        'Where to resume when Salesforce refuses the stored replay ID (older than the 72-hour retention): -2 replays all retained events, -1 new ones only. Either way the possible loss is logged and the object reconciled.',
      ),
    recordIdField: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'must be a field API name')
      .default('Record_Id__c')
      .describe('Platform events only: the payload field holding the record ID (15 or 18 characters).'),
  })
  .describe('A channel to subscribe to.');

/** A business unit MID: a token per MID is fetched and cached. */
const midField = z
  .string()
  .regex(/^\d+$/, 'must be a MID (digits)')
  .optional()
  .describe("Business unit MID to deliver as (a token per MID); default: marketingCloud.accountId, else the package's own business unit.");

export const JourneyTargetSchema = z
  .strictObject({
    type: z.literal('journey').describe('Journey Builder entry event.'),
    eventDefinitionKey: z
      .string()
      .regex(/\S/, 'must not be empty')
      .describe("The entry source's event definition key (not the journey ID). Required."),
    mode: z
      .enum(['batch', 'single'])
      .default('batch')
      .describe('batch: /interaction/v1/async/events (up to 100 per call); single: /interaction/v1/events.'),
    mid: midField,
  })
  .describe('Enter the contact into a journey.');

const definitionKeyField = (what: string) =>
  z
    .string()
    .regex(/\S/, 'must not be empty')
    .max(200)
    .optional()
    .describe(`${what} Required with \`mapping\`; a mapper may take it from the event instead (MC_Send__e).`);
const addressField = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.]*$/, 'must be a field API name')
  .default('Email')
  .describe("Event field holding the recipient's e-mail address (flattened or dotted).");
/** What both e-mail send targets name: the send definition, the address field and the business unit. */
const sendFields = (definition: string) => ({ definitionKey: definitionKeyField(definition), addressField, mid: midField });

export const TriggeredSendTargetSchema = z
  .strictObject({
    type: z.literal('triggeredSend').describe('Classic triggered send: /messaging/v1/messageDefinitionSends/key:<key>/send, one recipient per call.'),
    ...sendFields('External key of the triggered send definition.'),
  })
  .describe('Send an e-mail through a classic triggered send definition.');

export const TransactionalTargetSchema = z
  .strictObject({
    type: z.literal('transactional').describe("Transactional Messaging API e-mail, with the action's idempotency key as messageKey."),
    ...sendFields('Transactional send definition key.'),
    mode: z
      .enum(['batch', 'single'])
      .default('batch')
      .describe('batch: /messaging/v1/email/messages (up to 500 recipients per call); single: /messaging/v1/email/messages/<messageKey>.'),
  })
  .describe('Send an e-mail through the Transactional Messaging API.');

/** Data extension field types a route's values are formatted for. */
export const DE_FIELD_TYPES = ['Text', 'Number', 'Decimal', 'Date', 'Boolean', 'EmailAddress', 'Phone'] as const;
export type DeFieldType = (typeof DE_FIELD_TYPES)[number];

const columnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_ ]{0,127}$/, 'must be a data extension column name (letters, digits, _, spaces)');

export const DataExtensionTargetSchema = z
  .strictObject({
    type: z.literal('dataExtension').describe('Upsert one row per record into a (sendable) data extension; the newest change wins.'),
    key: z.string().regex(/\S/, 'must not be empty').max(200).describe('External key (customer key) of the data extension. Required.'),
    mode: z
      .enum(['async', 'sync'])
      .default('async')
      .describe(
        'async: PUT /data/v1/async/dataextensions/key:<key>/rows, confirmed through its status and results (batched, high volume); sync: POST /hub/v1/dataevents/key:<key>/rowset (low volume, answered at once).',
      ),
    contactKeyColumn: columnName
      .default('ContactKey')
      .describe('Column that receives the Contact Key (the 18-character record ID); always part of the primary key.'),
    primaryKey: z.array(columnName).default([]).describe('Other primary key columns besides contactKeyColumn, each a key of mapping.data.'),
    fieldTypes: z
      .record(columnName, z.enum(DE_FIELD_TYPES))
      .default({})
      .describe(
        'Type of each mapped column (Text, Number, Decimal, Date, Boolean, EmailAddress, Phone); values are formatted for it and a value that cannot be is a dead letter naming the column. Unlisted columns are Text.',
      ),
    deletes: z
      .enum(['ignore', 'softDelete'])
      .default('ignore')
      .describe(
        'What a CDC DELETE does: ignore it, or upsert the row with deletedColumn = true (the route must select DELETE in changeTypes). Marketing Cloud rows are never deleted by the bridge.',
      ),
    deletedColumn: columnName
      .default('IsDeleted')
      .describe('Boolean column set true by a soft delete and false by every other upsert (deletes: softDelete).'),
    mid: midField,
  })
  .describe('Keep a data extension row per record current.');

export const ContactDeleteTargetSchema = z
  .strictObject({
    type: z
      .literal('contactDelete')
      .describe(
        'Delete the contact from Marketing Cloud (Contact Delete by Contact Key, ContactAndAttributes): irreversible, enterprise-wide, processed by Marketing Cloud over hours.',
      ),
    confirmDeletes: z
      .boolean()
      .default(false)
      .describe('Must be true: a contactDelete route deletes contacts in Marketing Cloud for good, and says so on purpose. Required.'),
    mid: midField,
  })
  .describe(
    'Carry deletions to Marketing Cloud: a CDC DELETE (mapper contact-delete) or an MC_Contact_Delete__e event (mapper contact-delete-event).',
  );

const tuningShape = (connections: number, concurrency: number, maxBatch: number, batch: number) => ({
  connections: z.number().int().min(1).max(256).default(connections).describe('HTTP connections to the REST host for this target.'),
  concurrency: z.number().int().min(1).max(256).default(concurrency).describe('Requests in flight at once for this target.'),
  batchSize: z.number().int().min(1).max(maxBatch).default(batch).describe(`Actions per request where the API batches (at most ${maxBatch}).`),
});
const targetTuning = (connections: number, concurrency: number, maxBatch: number, batch: number) =>
  z.strictObject(tuningShape(connections, concurrency, maxBatch, batch)).prefault({});

export const MappingSchema = z
  .strictObject({
    data: z
      .record(z.string().min(1), z.string().min(1, 'must name a field'))
      .default({})
      .describe(
        'Entry data (journeys) or attributes (sends): key = name in Marketing Cloud, value = event field, flattened (LastName) or dotted (Name.LastName).',
      ),
    required: z
      .array(z.string().min(1))
      .default([])
      .describe('Keys of `data` that must have a value; without one the event goes to the dead-letter queue.'),
  })
  .describe('Declarative mapping done by the built-in mappers (journey-entry for journeys, send for triggered and transactional sends).');

export const RouteSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 characters: letters, digits, ".", "_", "-"')
      .describe('Unique route name; part of every idempotency key, so renaming a route re-keys its actions. Required.'),
    channel: z.string().min(1).describe('One of the declared channels. Required.'),
    changeTypes: z
      .array(z.enum(CHANGE_TYPES))
      .default(['CREATE', 'UPDATE'])
      .describe('Change events only: the change types that select this route; a type also selects its GAP_ twin. Empty = any.'),
    changedFields: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Change events only: select when any of these fields changed (Name.LastName or LastName). On CREATE and UNDELETE: when any has a value. Empty = any.',
      ),
    entities: z
      .array(z.string().min(1))
      .default([])
      .describe('Change events only: entity names that select this route (useful on /data/ChangeEvents). Empty = any.'),
    enrich: z
      .array(z.string().regex(/^[A-Za-z][A-Za-z0-9_.]*$/, 'must be a field API name'))
      .default([])
      .describe(
        'Change events only: fields the mapping needs besides those in `mapping.data`; any the event lacks (an UPDATE carries only what changed) are fetched from Salesforce.',
      ),
    target: z
      .discriminatedUnion('type', [
        JourneyTargetSchema,
        TriggeredSendTargetSchema,
        TransactionalTargetSchema,
        DataExtensionTargetSchema,
        ContactDeleteTargetSchema,
      ])
      .describe('What Marketing Cloud is asked to do. Required.'),
    mapping: MappingSchema.optional().describe('Declarative mapping; give either `mapping` or `mapper`.'),
    mapper: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'must be a module name in mappers/ (letters, digits, "_", "-")')
      .optional()
      .describe('Name of a custom mapper module, mappers/<name>.ts; give either `mapping` or `mapper`.'),
    feedback: z
      .boolean()
      .default(false)
      .describe(
        "Publish MC_Delivery_Status__e back to Salesforce when each of this route's actions settles (delivered, or dead-lettered with its reason), so a Flow can react. Counts against the org's hourly platform event allocation.",
      ),
  })
  .describe('Selects events and maps each one to Marketing Cloud actions.');

export const MarketingCloudSchema = z
  .strictObject({
    authBaseUrl: valueOrEnv(
      endpointString,
      'MC_AUTH_BASE_URL',
      'Auth base URL, https://<subdomain>.auth.marketingcloudapis.com; http only for 127.0.0.1 or localhost.',
    ),
    clientId: valueOrEnv(z.string().min(1), 'MC_CLIENT_ID', 'Installed package client ID.'),
    clientSecret: secretRef('MC_CLIENT_SECRET'),
    accountId: z
      .union([z.string().regex(/^\d+$/, 'must be a MID (digits)'), EnvRefSchema], { error: 'must be a MID (digits) or an environment reference' })
      .optional()
      .describe("Business unit MID (account_id in the token request); default: the package's own business unit."),
  })
  .prefault({})
  .describe('The Marketing Cloud tenant to deliver to.');

/** Both stores' retention, declared once. */
const RetentionDaysSchema = z
  .number()
  .min(3)
  .max(3650)
  .default(30)
  .describe(
    "Delivered actions are deleted this many days after delivery (trace shows them until then); at least 3, beyond Salesforce's 72-hour replay window. Dead letters are kept.",
  );

const SqliteStoreSchema = z
  .strictObject({
    kind: z.literal('sqlite').describe('One process, one file.'),
    path: z.string().min(1).default('data/bridge.db').describe('Database file, relative to the working directory.'),
    retentionDays: RetentionDaysSchema,
  })
  .describe('SQLite outbox, checkpoints and dead letters.');

const PostgresStoreSchema = z
  .strictObject({
    kind: z.literal('postgres').describe('Several instances on one PostgreSQL database: shared outbox, one consumer per channel.'),
    url: secretRef('DATABASE_URL').describe(
      'Connection URL postgres://user:password@host:5432/database, only as an environment reference (it may hold a password). Default: {"env": "DATABASE_URL"}.',
    ),
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case identifier (letters, digits, _)')
      .default('sfmc_bridge')
      .describe("Schema holding the bridge's tables; created and migrated on start."),
    poolSize: z.number().int().min(1).max(100).default(10).describe('Database connections per instance (plus one for leadership).'),
    claimLeaseMs: z
      .number()
      .int()
      .min(1000)
      .max(3_600_000)
      .default(30000)
      .describe(
        "How long an action claimed for delivery stays reserved (ms); renewed while delivering; a dead instance's claims are delivered by another after it.",
      ),
    synchronousCommit: z
      .boolean()
      .default(false)
      .describe(
        'Wait for the database to flush each commit to disk. Off loses nothing when a bridge dies; a database crash rewinds whole batches with their checkpoints, fetched again from Salesforce.',
      ),
    takeoverMs: z
      .number()
      .int()
      .min(500)
      .max(600_000)
      .default(10000)
      .describe(
        'Bound on how long a channel goes unconsumed after its leader dies or loses the database (ms); a dead process is replaced within a fifth of it.',
      ),
    retentionDays: RetentionDaysSchema,
  })
  .describe('PostgreSQL outbox, checkpoints and dead letters, shared by several instances.');

export const BridgeConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe("Path of this file's JSON Schema, for editors."),
    salesforce: SalesforceSchema,
    channels: z.array(ChannelSchema).default([]).describe('Channels to subscribe to.'),
    marketingCloud: MarketingCloudSchema,
    routes: z.array(RouteSchema).default([]).describe('Routes, tried in order; every matching route produces actions.'),
    store: z
      .discriminatedUnion('kind', [SqliteStoreSchema, PostgresStoreSchema])
      .prefault({ kind: 'sqlite' })
      .describe('Where the outbox, checkpoints and dead letters live.'),
    dispatcher: z
      .strictObject({
        batchSize: z.number().int().min(1).max(100).default(100).describe('Actions per Marketing Cloud call (journey batches allow 100).'),
        concurrency: z.number().int().min(1).max(64).default(4).describe('Calls in flight at once.'),
        maxAttempts: z.number().int().min(1).max(100).default(12).describe('Attempts before an action goes to the dead-letter queue.'),
        pollIntervalMs: z.number().int().min(1).max(60000).default(50).describe('How often an idle dispatcher looks for new actions (ms).'),
        notifiedPollIntervalMs: z
          .number()
          .int()
          .min(1)
          .max(600000)
          .default(2000)
          .describe(
            'With the Postgres store, which wakes the dispatcher (LISTEN/NOTIFY) when any instance commits or frees work: how often an idle dispatcher still looks, in case a wake-up was lost (ms).',
          ),
        timeoutMs: z.number().int().min(100).max(300000).default(30000).describe('Headers and body timeout of one Marketing Cloud request (ms).'),
        keepAliveMs: z
          .number()
          .int()
          .min(100)
          .max(4900)
          .default(4000)
          .describe("Idle keep-alive of connections; below Marketing Cloud's 5 s idle close."),
        targets: z
          .strictObject({
            journey: targetTuning(16, 16, 100, 100).describe('Journey entries (async batches of up to 100).'),
            triggeredSend: targetTuning(16, 16, 100, 100).describe(
              'Classic triggered sends (one recipient per request; batchSize only groups the work).',
            ),
            transactional: targetTuning(16, 16, 500, 500).describe('Transactional sends (batches of up to 500 recipients with attributes).'),
            dataExtension: z
              .strictObject({
                ...tuningShape(8, 8, 5000, 500),
                confirmAfterMs: z
                  .number()
                  .int()
                  .min(10)
                  .max(600_000)
                  .default(1000)
                  .describe(
                    'Async rows: how long after Marketing Cloud accepted a request its status is first read, and between reads while it is pending (ms).',
                  ),
              })
              .prefault({})
              .describe('Data extension rows (rows per async request, up to 5,000; sync requests carry at most 50).'),
            contactDelete: targetTuning(2, 1, 10_000, 500).describe(
              'Contact deletions (Contact Keys per delete request; Marketing Cloud runs one deletion at a time per account).',
            ),
          })
          .prefault({})
          .describe('Connections, concurrency and batch size per target.'),
        deletes: z
          .strictObject({
            maxPerHour: z
              .number()
              .int()
              .min(1)
              .max(10_000_000)
              .default(1000)
              .describe(
                'Most contacts deleted in any rolling hour; deletions past it are not sent but dead-lettered with code CONTACT_DELETE_CAPPED and an alert line (a mass delete in Salesforce is more often a mistake than a request); `dlq retry` sends them once reviewed.',
              ),
            statusPollMs: z
              .number()
              .int()
              .min(1000)
              .max(86_400_000)
              .default(60_000)
              .describe(
                'How often the status of a deletion operation Marketing Cloud accepted is asked for, until it completes (it can take hours).',
              ),
            dryRun: z
              .boolean()
              .default(false)
              .describe(
                'Log what would be deleted and send nothing (`start --dry-run` sets it); each deletion is dead-lettered with code CONTACT_DELETE_DRY_RUN, so `dlq retry` can send it later.',
              ),
          })
          .prefault({})
          .describe('Guard rails of contactDelete routes.'),
        retry: z
          .strictObject({
            baseMs: z.number().int().min(1).default(1000).describe('First retry waits up to this long; doubles per attempt (jittered).'),
            capMs: z.number().int().min(1).default(300000).describe('Longest computed retry wait.'),
            maxRetryAfterMs: z.number().int().min(1).default(900000).describe('Longest Retry-After honoured; longer ones are cut to this.'),
            blockedWaitMs: z
              .number()
              .int()
              .min(1)
              .default(60000)
              .describe('Wait after 429 errorcode 50200 (temporarily blocked, no Retry-After); doubles per attempt.'),
            blockedCapMs: z.number().int().min(1).default(900000).describe('Longest wait after 429 50200.'),
          })
          .prefault({})
          .describe('Retry waits; which failures are retried is fixed (see src/delivery/retry.ts).'),
        breaker: z
          .strictObject({
            threshold: z.number().int().min(1).max(1000).default(5).describe("Consecutive 5xx, timeouts or resets that open a host's circuit."),
            openMs: z.number().int().min(1).default(1000).describe('First open period; doubles per consecutive opening.'),
            maxOpenMs: z.number().int().min(1).default(60000).describe('Longest open period.'),
          })
          .prefault({})
          .describe('Circuit breaker per Marketing Cloud host.'),
        probe: z
          .strictObject({
            intervalMs: z
              .number()
              .int()
              .min(0)
              .max(86_400_000)
              .default(300_000)
              .describe(
                'How often the target probe re-checks every event definition, send definition and scope the routes use (ms); 0 checks only at start-up. A definition found missing or inactive is an error line and a metric, and sends to it are dead-lettered with the reason.',
              ),
            cacheMax: z
              .number()
              .int()
              .min(1)
              .max(100_000)
              .default(1000)
              .describe('Most definition keys remembered, including keys first named by admin events (each looked up once on first use).'),
          })
          .prefault({})
          .describe('Checking Marketing Cloud targets before sending to them.'),
      })
      .prefault({})
      .describe('Delivery to Marketing Cloud.'),
    subscriber: z
      .strictObject({
        maxBacklog: z
          .number()
          .int()
          .min(1)
          .default(20000)
          .describe('Undelivered actions above which the subscriber stops asking Salesforce for events.'),
        watchdogMs: z
          .number()
          .int()
          .min(100)
          .default(220_000)
          .describe(
            'Rebuild the streaming client (new handshake, new cookies) when no /meta/connect succeeded for this long; default twice the 110 s poll.',
          ),
        retryInitialMs: z
          .number()
          .int()
          .min(1)
          .default(1000)
          .describe('First wait after a 503 or a concurrent-client refusal (ms); doubles, with jitter.'),
        retryMaxMs: z.number().int().min(1).default(60_000).describe('Longest wait between reconnection attempts (ms).'),
        dailyLimitPauseMs: z
          .number()
          .int()
          .min(1)
          .default(900_000)
          .describe('Pause after "Organization total events daily limit exceeded" before trying again (ms); events stay replayable for 72 h.'),
      })
      .prefault({})
      .describe('Receiving from Salesforce.'),
    admin: z
      .strictObject({
        enabled: z.boolean().default(false).describe('Run the admin HTTP listener (/healthz, /readyz, /metrics, status page).'),
        host: z
          .string()
          .min(1)
          .default('127.0.0.1')
          .describe('Interface to listen on; loopback by default. Use 0.0.0.0 in a container, with a token.'),
        port: z.number().int().min(0).max(65535).default(9464).describe('Port to listen on (0: any free port).'),
        token: optionalSecretRef('SFMC_BRIDGE_ADMIN_TOKEN'),
        probesOnly: z
          .boolean()
          .default(false)
          .describe(
            'Serve only /healthz, /readyz and /metrics (no status page, no /api/*: no record data). Lets a non-loopback host go without a token; with a token, /metrics still asks for it.',
          ),
      })
      .prefault({})
      .describe(
        'Admin HTTP listener: health, readiness, Prometheus metrics and the status page. With a token, /metrics and /api/* need "Authorization: Bearer <token>". A host other than loopback needs a token, or probesOnly: true.',
      ),
    connectivity: z
      .strictObject({
        alertAfterMs: z
          .number()
          .int()
          .min(1000)
          .max(86_400_000)
          .default(60_000)
          .describe(
            'A Salesforce or Marketing Cloud host without a working connection for this long is logged as an error (event remote_unreachable), once per outage; each failed attempt before that is a warning (event connect_failed).',
          ),
        warnIntervalMs: z
          .number()
          .int()
          .min(0)
          .max(3_600_000)
          .default(30_000)
          .describe('At most one connect_failed warning per host and cause in this time; the next one counts the attempts left out.'),
      })
      .prefault({})
      .describe(
        'Failed connections to Salesforce and Marketing Cloud (closed port, unknown host, certificate errors): logged, alerted, and named by /readyz.',
      ),
    shutdownTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(8000)
      .describe(
        "On SIGTERM/SIGINT: longest wait for deliveries in flight before exiting anyway (they are sent again after restart). Keep it below the orchestrator's kill timeout.",
      ),
    feedback: z
      .strictObject({
        batchSize: z
          .number()
          .int()
          .min(1)
          .max(200)
          .default(200)
          .describe('Status events per sObject collections call (Salesforce takes at most 200).'),
        lingerMs: z
          .number()
          .int()
          .min(10)
          .max(60_000)
          .default(1000)
          .describe(
            'How long statuses gather before a publish call when fewer than batchSize wait (ms): few full calls instead of many small ones, at the cost of this much delay in Salesforce.',
          ),
        limitPauseMs: z
          .number()
          .int()
          .min(1000)
          .max(3_600_000)
          .default(300_000)
          .describe(
            'Pause after Salesforce refuses a publish for the hourly platform event allocation (LIMIT_EXCEEDED) before trying again (ms); statuses wait in the outbox meanwhile.',
          ),
        retry: z
          .strictObject({
            baseMs: z.number().int().min(1).default(1000).describe('First wait after a failed publish call (5xx, network); doubles, jittered.'),
            capMs: z.number().int().min(1).default(60_000).describe('Longest wait between publish retries.'),
          })
          .prefault({})
          .describe('Waits between failed publish calls (the one backoff, src/core/backoff.ts).'),
      })
      .prefault({})
      .describe('Publishing MC_Delivery_Status__e for routes with feedback: true, from the status outbox, apart from deliveries.'),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Lowest level written.'),
        pretty: z
          .union([z.literal('auto'), z.boolean()], { error: 'must be "auto", true or false' })
          .default('auto')
          .describe('Human-readable lines; auto = only when stdout is a terminal.'),
        allowPersonalData: z.boolean().default(false).describe('Show e-mail addresses and phone numbers unmasked in logs.'),
      })
      .prefault({})
      .describe('Logging (JSON lines on stdout).'),
  })
  .describe('sfmc-bridge configuration.');

/** The parsed config with environment references still unresolved. */
export type ParsedConfig = z.output<typeof BridgeConfigSchema>;

/** An environment reference in the parsed config. */
type EnvRef = z.output<typeof EnvRefSchema>;

type Resolved<T> = T extends EnvRef
  ? string
  : T extends readonly (infer U)[]
    ? readonly Resolved<U>[]
    : T extends object
      ? { readonly [K in keyof T]: Resolved<T[K]> }
      : T;

/** The config `load` returns: environment references resolved to strings, deeply frozen. */
export type BridgeConfig = Resolved<ParsedConfig>;
export type SalesforceConfig = BridgeConfig['salesforce'];
export type ChannelConfig = BridgeConfig['channels'][number];
export type RouteConfig = BridgeConfig['routes'][number];
export type StoreConfig = BridgeConfig['store'];
