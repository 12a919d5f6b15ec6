/**
 * Reachability of Salesforce and Marketing Cloud: every failed connection attempt is a warning
 * naming the host and the cause (ECONNREFUSED, ENOTFOUND, a certificate error), rate-limited
 * per host and cause; a host without a connection for `alertAfterMs` is an error line; and the
 * readiness probe can say which host is down and why.
 *
 * Attempts are seen where they happen, without touching each client: undici (Marketing Cloud
 * token and REST, Salesforce OAuth) and node:http (faye's CometD requests, jsforce's REST calls)
 * publish every connection error on `node:diagnostics_channel`; gRPC (Pub/Sub) is reported by its
 * subscriber through `failed`/`reached`. The channels are process-wide, so a tracker keeps only
 * the hosts its own service talks to.
 */
import dc from 'node:diagnostics_channel';
import type { Logger } from 'pino';

/** The two services the bridge connects to. */
export type Remote = 'salesforce' | 'marketingCloud';

/** Options of the tracker. */
export interface ReachabilityOptions {
  logger: Logger;
  /** URLs of each service known at start (instance URL, OAuth login URL, MC auth base URL). */
  urls: Readonly<Record<Remote, readonly string[]>>;
  /** Without a connection for this long, a host's failures become an error line. */
  alertAfterMs: number;
  /** At most one warning per host and cause in this time; the rest are counted in the next one. */
  warnIntervalMs: number;
}

/** A host that cannot be reached now. */
export interface Unreachable {
  remote: Remote;
  host: string;
  cause: string;
  /** First failure since the last connection (ms since the epoch). */
  since: number;
  attempts: number;
}

interface HostState extends Unreachable {
  alerted: boolean;
  /** Per cause: when its last warning was written, and failures not written since. */
  warned: Map<string, { at: number; suppressed: number }>;
}

interface UndiciConnect {
  connectParams?: { hostname?: string; host?: string; port?: string | number; protocol?: string };
  error?: unknown;
}
interface HttpRequestEvent {
  request?: { getHeader?(name: string): unknown; protocol?: string; host?: string };
  error?: unknown;
}

/** Names the cause of a failed connection from the error and its cause chain: a system or TLS code, else the message. */
export function connectionCause(err: unknown): string {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && seen.size < 10) {
    const e = queue.shift();
    if (e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const { code, cause, errors } = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && CAUSE_CODE.test(code)) return code;
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  // gRPC and faye carry the cause only in text ("connect ECONNREFUSED 127.0.0.1:443").
  const text = textOf(err);
  const found = text.match(/\b(E[A-Z]{4,}|UND_ERR_[A-Z_]+|(?:ERR_TLS|ERR_SSL)[A-Z_]*|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)\b/);
  if (found) return found[1]!;
  if (/name resolution failed|getaddrinfo|not resolve/i.test(text)) return 'ENOTFOUND';
  return text.slice(0, 120) || 'unknown';
}

const CAUSE_CODE = /^(E[A-Z]{4,}|UND_ERR_[A-Z_]+|ERR_TLS[A-Z_]*|ERR_SSL[A-Z_]*|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+|HOSTNAME_MISMATCH)$/;

function textOf(err: unknown): string {
  if (err instanceof Error) return `${err.message} ${(err as { details?: string }).details ?? ''}`.trim();
  if (err && typeof err === 'object' && 'details' in err) return String((err as { details: unknown }).details);
  return String(err ?? '');
}

/** `host:port`, with the scheme's default port filled in, so one host is one key however it is written. */
export function hostKey(hostname: string, port: string | number | undefined, protocol: string | undefined): string {
  const p = port === undefined || port === '' ? (protocol === 'http:' ? 80 : 443) : Number(port);
  return `${hostname.replace(/^\[|\]$/g, '')}:${p}`;
}

function keyOfUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    return hostKey(u.hostname, u.port, u.protocol);
  } catch {
    return undefined;
  }
}

/** The key of a URL or of a gRPC endpoint (`host:port`, or a bare host on 443). */
export function endpointKey(endpoint: string): string {
  if (endpoint.includes('://')) return keyOfUrl(endpoint) ?? endpoint;
  return /:\d+$/.test(endpoint) ? endpoint : `${endpoint}:443`;
}

/** Tracks failed and working connections per host; see the file comment. */
export class Reachability {
  readonly #o: ReachabilityOptions;
  readonly #known = new Map<string, Remote>();
  readonly #down = new Map<string, HostState>();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: ReachabilityOptions) {
    this.#o = options;
    for (const remote of ['salesforce', 'marketingCloud'] as const) {
      for (const url of options.urls[remote]) {
        const key = keyOfUrl(url);
        if (key) this.#known.set(key, remote);
      }
    }
    this.#listen('undici:client:connectError', (m: UndiciConnect) => this.#onUndici(m, false));
    this.#listen('undici:client:connected', (m: UndiciConnect) => this.#onUndici(m, true));
    this.#listen('http.client.request.error', (m: HttpRequestEvent) => this.#onHttp(m, false));
    this.#listen('http.client.response.finish', (m: HttpRequestEvent) => this.#onHttp(m, true));
    // A host that fails once and is never tried again (a long backoff) still gets its alert.
    this.#timer = setInterval(() => this.#checkAlerts(), Math.max(250, Math.min(5000, Math.floor(options.alertAfterMs / 4))));
    this.#timer.unref();
  }

  /** Also tracks `url`'s host (a URL known only once auth has run, like an `sf` alias's instance). */
  watch(remote: Remote, url: string): void {
    const key = keyOfUrl(url);
    if (key) this.#known.set(key, remote);
  }

  /** A connection attempt to `endpoint` (`host:port` or a URL) failed; `err` carries the cause. */
  failed(remote: Remote, endpoint: string, err: unknown): void {
    const host = endpointKey(endpoint);
    const now = Date.now();
    const cause = connectionCause(err);
    let s = this.#down.get(host);
    if (!s) this.#down.set(host, (s = { remote, host, cause, since: now, attempts: 0, alerted: false, warned: new Map() }));
    s.attempts++;
    s.cause = cause;
    const w = s.warned.get(cause);
    if (w && now - w.at < this.#o.warnIntervalMs) {
      w.suppressed++;
    } else {
      const suppressed = w?.suppressed ?? 0;
      s.warned.set(cause, { at: now, suppressed: 0 });
      this.#o.logger.warn(
        { event: 'connect_failed', remote, host, cause, error: textOf(err).slice(0, 300), attempts: s.attempts, suppressed },
        `cannot connect to ${label(remote)} at ${host}: ${cause}${suppressed > 0 ? ` (${suppressed} more failed attempts not logged)` : ''}`,
      );
    }
    this.#checkAlerts();
  }

  /** A connection to `endpoint` works (again). */
  reached(remote: Remote, endpoint: string): void {
    if (this.#down.size === 0) return;
    const host = endpointKey(endpoint);
    const s = this.#down.get(host);
    if (!s) return;
    this.#down.delete(host);
    this.#o.logger.info(
      { event: 'connect_recovered', remote, host, downMs: Date.now() - s.since, attempts: s.attempts },
      `connected to ${label(remote)} at ${host} again`,
    );
  }

  /** Hosts without a working connection now, for the readiness probe. */
  unreachable(): Unreachable[] {
    return [...this.#down.values()].map(({ remote, host, cause, since, attempts }) => ({ remote, host, cause, since, attempts }));
  }

  /** Stops listening. */
  close(): void {
    clearInterval(this.#timer);
    for (const u of this.#unsubscribe) u();
  }

  #checkAlerts(): void {
    const now = Date.now();
    for (const s of this.#down.values()) {
      if (s.alerted || now - s.since < this.#o.alertAfterMs) continue;
      s.alerted = true;
      this.#o.logger.error(
        { event: 'remote_unreachable', remote: s.remote, host: s.host, cause: s.cause, downMs: now - s.since, attempts: s.attempts },
        `ALERT: no connection to ${label(s.remote)} at ${s.host} for ${Math.round((now - s.since) / 1000)} s (${s.attempts} attempts): ${s.cause}; check the URL, DNS, firewall and certificates`,
      );
    }
  }

  #listen<T>(name: string, fn: (message: T) => void): void {
    const handler = (message: unknown) => fn(message as T);
    dc.subscribe(name, handler);
    this.#unsubscribe.push(() => dc.unsubscribe(name, handler));
  }

  #onUndici(m: UndiciConnect, ok: boolean): void {
    const p = m.connectParams;
    if (!p?.hostname) return;
    this.#observe(hostKey(p.hostname, p.port, p.protocol), ok, m.error);
  }

  #onHttp(m: HttpRequestEvent, ok: boolean): void {
    const r = m.request;
    const header = r?.getHeader?.('host');
    if (typeof header !== 'string') return;
    const [hostname, port] = header.startsWith('[') ? [header.slice(0, header.indexOf(']') + 1), header.split(']:')[1]] : header.split(':');
    this.#observe(hostKey(hostname!, port, r?.protocol), ok, m.error);
  }

  #observe(key: string, ok: boolean, err: unknown): void {
    const remote = this.#remoteOf(key);
    if (!remote) return;
    if (ok) this.reached(remote, key);
    else this.failed(remote, key, err);
  }

  /** The configured hosts, and Marketing Cloud's tenant hosts learned from its token answers. */
  #remoteOf(key: string): Remote | undefined {
    const known = this.#known.get(key);
    if (known) return known;
    const hostname = key.slice(0, key.lastIndexOf(':'));
    if (hostname.endsWith('.marketingcloudapis.com')) return 'marketingCloud';
    if (/\.(salesforce|force)\.com$/.test(hostname)) return 'salesforce';
    return undefined;
  }
}

function label(remote: Remote): string {
  return remote === 'salesforce' ? 'Salesforce' : 'Marketing Cloud';
}
