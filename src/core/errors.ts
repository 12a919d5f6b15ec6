/**
 * The error catalogue, the way undici keeps one: every error class of the bridge and every
 * stable code it writes (dead letters, logs, metrics labels), plus the external codes the code
 * acts on (Salesforce REST `errorCode`, Marketing Cloud `errorcode`, Pub/Sub `error-code`).
 * `classify` in src/delivery/retry.ts is the one place that decides retry or dead-letter from
 * them; nothing else guesses. docs/errors.md is the operators' table of the same codes.
 */

export type ErrorKind = 'config' | 'auth' | 'transient' | 'permanent' | 'mapping' | 'input';

/** Base class: a stable `code`, a `kind` and an optional `cause`. */
export class BridgeError extends Error {
  readonly code: Code | SfOauthCode;
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, code: Code | SfOauthCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
  }
}

/** Invalid configuration or arguments: start-up stops with exit code 2. */
export class ConfigError extends BridgeError {
  /** Dotted path of the offending key, e.g. `routes[0].target.eventDefinitionKey`. */
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('config', Code.CONFIG_INVALID, `${key}: ${message}`, options);
    this.key = key;
  }
}

/**
 * An operator command (`trace`, `dlq`) was pointed at a store that does not exist yet. Not a
 * ConfigError: the config may be right and the bridge simply never ran here, so exit code 1.
 */
export class StoreNotFoundError extends BridgeError {
  readonly path: string;
  constructor(path: string) {
    super(
      'config',
      Code.STORE_NOT_FOUND,
      `no store at ${JSON.stringify(path)} yet: the bridge has not run with this config here (run this where the bridge runs, or pass its --config)`,
    );
    this.path = path;
  }
}

/** An event that cannot be interpreted (bad header, invalid ID, ...). */
export class InputError extends BridgeError {
  readonly field: string;
  constructor(code: Code, field: string, message: string, options?: { cause?: unknown }) {
    super('input', code, message, options);
    this.field = field;
  }
}

/** A route's mapping failed for one event (missing field, bad value). */
export class MappingError extends BridgeError {
  readonly field: string;
  constructor(code: Code, field: string, message: string, options?: { cause?: unknown }) {
    super('mapping', code, message, options);
    this.field = field;
  }
}

/** Credentials were refused. */
export class AuthError extends BridgeError {
  constructor(code: Code | SfOauthCode, message: string, options?: { cause?: unknown }) {
    super('auth', code, message, options);
  }
}

/** Worth retrying later (5xx, 429, socket reset, timeout). */
export class TransientError extends BridgeError {
  /** Server-advised wait, when it gave one. */
  readonly retryAfterMs: number | undefined;
  constructor(code: Code, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super('transient', code, message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Will never succeed as sent (400, 403, per-member rejection). */
export class PermanentError extends BridgeError {
  readonly status: number | undefined;
  readonly mcErrorCode: string | number | undefined;
  constructor(code: Code, message: string, options?: { cause?: unknown; status?: number; mcErrorCode?: string | number }) {
    super('permanent', code, message, options);
    this.status = options?.status;
    this.mcErrorCode = options?.mcErrorCode;
  }
}

/**
 * A Salesforce record fetch that failed for good (enrichment, gap events, reconciliation);
 * `permanent` when retrying cannot help (bad field, bad object). Its code is
 * `ENRICH_FETCH_FAILED`; Salesforce's own `errorCode` is kept in `salesforceCode`.
 */
export class FetchError extends BridgeError {
  readonly salesforceCode: string;
  readonly permanent: boolean;
  constructor(salesforceCode: string, message: string, permanent: boolean, options?: { cause?: unknown }) {
    super(permanent ? 'permanent' : 'transient', Code.ENRICH_FETCH_FAILED, message, options);
    this.salesforceCode = salesforceCode;
    this.permanent = permanent;
  }
}

/** Shows a value in an error message without flooding it. */
export function showValue(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Builds `{ A: 'A', B: 'B' }` from names, so each code string is written once. */
function namesOf<const K extends string>(names: readonly K[]): { readonly [N in K]: N } {
  return Object.freeze(Object.fromEntries(names.map((n) => [n, n]))) as { readonly [N in K]: N };
}

/**
 * How `sfmc_bridge_mc_request_errors_total` groups a failed Marketing Cloud request, as
 * operators alert on it; `member` answers are about one member of an accepted request and
 * are counted as actions, not as failed requests.
 */
export type RequestClass = '429' | '5xx' | 'network' | 'auth' | '4xx' | 'member' | 'other';

/**
 * Every stable code the bridge writes in dead letters, logs and errors, with its kind and,
 * for Marketing Cloud request failures, its metrics class. docs/errors.md explains each one
 * (meaning, what to do); test/error-catalogue.test.ts keeps the two lists equal.
 */
const CATALOGUE = {
  // Configuration and credentials (start-up stops, or the outbox parks).
  CONFIG_INVALID: { kind: 'config' },
  STORE_NOT_FOUND: { kind: 'config' },
  SF_TOKEN_MISSING: { kind: 'auth' },
  SF_TOKEN_NETWORK: { kind: 'transient' },
  SF_TOKEN_UNAVAILABLE: { kind: 'transient' },
  SF_TENANT_UNKNOWN: { kind: 'auth' },
  // Events that cannot be read (dead letters at intake).
  MALFORMED_EVENT: { kind: 'input' },
  MALFORMED_HEADER: { kind: 'input' },
  MISSING_RECORD_ID: { kind: 'input' },
  INVALID_ID: { kind: 'input' },
  UNKNOWN_CHANNEL: { kind: 'input' },
  PLAN_FAILED: { kind: 'input' },
  // Routes and mappers (dead letters at planning).
  MAPPING_BAD_VALUE: { kind: 'mapping' },
  MAPPING_MISSING_FIELD: { kind: 'mapping' },
  MAPPING_TOO_LARGE: { kind: 'mapping' },
  MAPPING_NO_CONTACT_KEY: { kind: 'mapping' },
  MAPPING_WRONG_TARGET: { kind: 'mapping' },
  MAPPING_SOFT_DELETE_KEY: { kind: 'mapping' },
  MAPPER_FAILED: { kind: 'mapping' },
  CONTACT_UNDELETE_IRREVERSIBLE: { kind: 'mapping' },
  MAPPER_INVALID_RESULT: { kind: 'mapping' },
  RESYNC_REQUIRED: { kind: 'mapping' },
  // Enrichment and reconciliation (Salesforce record fetches).
  ENRICH_RECORD_NOT_FOUND: { kind: 'mapping' },
  ENRICH_UNKNOWN_FIELD: { kind: 'mapping' },
  ENRICH_FETCH_FAILED: { kind: 'transient' },
  RESYNC_FAILED: { kind: 'transient' },
  // Marketing Cloud: token.
  MC_AUTH_REFUSED: { kind: 'auth', requestClass: 'auth' },
  MC_AUTH_BAD_RESPONSE: { kind: 'auth', requestClass: 'auth' },
  MC_AUTH_UNAVAILABLE: { kind: 'transient', requestClass: 'auth' },
  MC_AUTH_UNREACHABLE: { kind: 'transient', requestClass: 'auth' },
  MC_UNSAFE_REST_URL: { kind: 'auth', requestClass: 'auth' },
  // Marketing Cloud: a request as a whole.
  MC_UNAUTHORIZED: { kind: 'auth', requestClass: 'auth' },
  MC_RATE_LIMITED: { kind: 'transient', requestClass: '429' },
  MC_TEMPORARILY_BLOCKED: { kind: 'transient', requestClass: '429' },
  MC_SERVER_ERROR: { kind: 'transient', requestClass: '5xx' },
  MC_CONNECT_FAILED: { kind: 'transient', requestClass: 'network' },
  MC_CONNECTION_LOST: { kind: 'transient', requestClass: 'network' },
  MC_TIMEOUT: { kind: 'transient', requestClass: 'network' },
  MC_REJECTED: { kind: 'permanent', requestClass: '4xx' },
  MC_CIRCUIT_OPEN: { kind: 'transient', requestClass: 'other' },
  MC_UNEXPECTED: { kind: 'transient', requestClass: 'other' },
  NO_OUTCOME: { kind: 'transient', requestClass: 'other' },
  TARGET_FAILED: { kind: 'transient', requestClass: 'other' },
  // Marketing Cloud: one member of an accepted request.
  MC_MEMBER_REJECTED: { kind: 'permanent', requestClass: 'member' },
  MC_MEMBER_UNACCOUNTED: { kind: 'permanent', requestClass: 'member' },
  MC_RECIPIENT_REJECTED: { kind: 'permanent', requestClass: 'other' },
  MC_RECIPIENT_UNACCOUNTED: { kind: 'transient', requestClass: 'other' },
  // Marketing Cloud: one data extension row of an accepted asynchronous request.
  MC_NO_REQUEST_ID: { kind: 'transient', requestClass: 'other' },
  MC_ROW_REJECTED: { kind: 'permanent', requestClass: 'member' },
  MC_ROW_UNCONFIRMED: { kind: 'permanent', requestClass: 'member' },
  // Backfill (src/backfill/): reading the org, writing rows, resuming.
  BACKFILL_QUERY_FAILED: { kind: 'transient' },
  BACKFILL_WRITE_FAILED: { kind: 'transient' },
  // Marketing Cloud: what the target probe found before sending (delivery/target-probe.ts).
  MC_DEFINITION_MISSING: { kind: 'permanent', requestClass: 'other' },
  MC_DEFINITION_INACTIVE: { kind: 'permanent', requestClass: 'other' },
  MC_DEFINITION_MISNAMED: { kind: 'permanent', requestClass: 'other' },
  // Contact deletion guard rails (delivery/targets/contact-delete.ts).
  CONTACT_DELETE_CAPPED: { kind: 'permanent', requestClass: 'other' },
  CONTACT_DELETE_DRY_RUN: { kind: 'permanent', requestClass: 'other' },
} as const satisfies Record<string, { kind: ErrorKind; requestClass?: RequestClass }>;

/** A stable code of the bridge. */
export type Code = keyof typeof CATALOGUE;

/** The stable codes, by name: `Code.MC_RATE_LIMITED`. */
export const Code = namesOf(Object.keys(CATALOGUE) as Code[]);

/** `SF_OAUTH_<error>`: Salesforce's OAuth `error` value (e.g. `invalid_grant`), upper-cased. */
export type SfOauthCode = `SF_OAUTH_${string}`;

/** The code of an OAuth error Salesforce's token endpoint answered. */
export function sfOauthCode(error: string): SfOauthCode {
  return `SF_OAUTH_${error.toUpperCase()}`;
}

/** Every stable code (the table in docs/errors.md lists the same, plus `SF_OAUTH_*`). */
export function allCodes(): Code[] {
  return Object.keys(CATALOGUE) as Code[];
}

/** The kind of error a code names. */
export function kindOf(code: Code): ErrorKind {
  return CATALOGUE[code].kind;
}

/** The metrics class of a failed Marketing Cloud request's code; `other` for codes outside the catalogue. */
export function requestClassOf(code: string): RequestClass {
  const entry = (CATALOGUE as Record<string, { requestClass?: RequestClass }>)[code];
  return entry?.requestClass ?? 'other';
}

/** Salesforce REST API `errorCode` values the bridge acts on (enrichment, org probe) and the emulator answers. */
export const SalesforceCode = namesOf([
  'INVALID_FIELD',
  'MALFORMED_QUERY',
  'INVALID_TYPE',
  'NOT_FOUND',
  'INVALID_QUERY_FILTER_OPERATOR',
  'INVALID_QUERY_LOCATOR',
  'INVALID_SESSION_ID',
  'METHOD_NOT_ALLOWED',
]);

/** Marketing Cloud `errorcode` values the bridge acts on (docs/protocols.md §Marketing Cloud). */
export const McErrorcode = Object.freeze({
  /** Transactional Messaging: this messageKey was already accepted. */
  messageKeyReused: 109110,
  /** 429 rate limit, with a Retry-After. */
  rateLimited: 50100,
  /** 429 "temporarily blocked", without a Retry-After. */
  temporarilyBlocked: 50200,
});

/** The `error-code` trailer values of the Pub/Sub API that Salesforce documents ("Handle Errors"). */
export const PubSubErrorCode = Object.freeze({
  authError: 'sfdc.platform.eventbus.grpc.service.auth.error',
  unavailable: 'sfdc.platform.eventbus.grpc.service.unavailable',
  concurrentLimit: 'sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded',
  replayCorrupted: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted',
});
