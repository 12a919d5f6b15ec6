/**
 * Typed errors with stable codes. `classify` in src/delivery/retry.ts is the one place that
 * decides retry or dead-letter from them; nothing else guesses.
 */

export type ErrorKind = 'config' | 'auth' | 'transient' | 'permanent' | 'mapping' | 'input';

/** Base class: a stable `code`, a `kind` and an optional `cause`. */
export class BridgeError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown }) {
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
    super('config', 'CONFIG_INVALID', `${key}: ${message}`, options);
    this.key = key;
  }
}

/** An event that cannot be interpreted (bad header, invalid ID, ...). */
export class InputError extends BridgeError {
  readonly field: string;
  constructor(code: string, field: string, message: string, options?: { cause?: unknown }) {
    super('input', code, message, options);
    this.field = field;
  }
}

/** A route's mapping failed for one event (missing field, bad value). */
export class MappingError extends BridgeError {
  readonly field: string;
  constructor(code: string, field: string, message: string, options?: { cause?: unknown }) {
    super('mapping', code, message, options);
    this.field = field;
  }
}

/** Credentials were refused. */
export class AuthError extends BridgeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super('auth', code, message, options);
  }
}

/** Worth retrying later (5xx, 429, socket reset, timeout). */
export class TransientError extends BridgeError {
  /** Server-advised wait, when it gave one. */
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super('transient', code, message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Will never succeed as sent (400, 403, per-member rejection). */
export class PermanentError extends BridgeError {
  readonly status: number | undefined;
  readonly mcErrorCode: string | number | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; status?: number; mcErrorCode?: string | number }) {
    super('permanent', code, message, options);
    this.status = options?.status;
    this.mcErrorCode = options?.mcErrorCode;
  }
}

/** Shows a value in an error message without flooding it. */
export function showValue(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
