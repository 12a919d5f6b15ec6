/**
 * The target probe: knows before a send fails. It lists every definition the routes name (event
 * definition keys, transactional and classic send definitions) and the scopes they need, looks
 * them up (mc/definitions.ts), and keeps the verdicts. `check` runs it once; `start` runs it at
 * start-up and every `intervalMs`, so a definition that went inactive or disappeared is an error
 * line, a metric and (with feedback on) a status event before the first send to it is refused.
 * A key it has never seen (an admin event names its own) is looked up once, on first use, and
 * the verdict cached (lru-cache, bounded, expiring with the interval).
 */
import { LRUCache } from 'lru-cache';
import type { ActionPayload, ActionTarget } from '../core/model.ts';
import { isBroken, lookupDefinition, type DefinitionKind, type DefinitionVerdict } from './mc/definitions.ts';
import type { ClientFor } from './target.ts';

/** One definition a route names, with where the config names it. */
export interface ProbeSubject {
  kind: DefinitionKind;
  key: string;
  /** Business unit MID; the configured account when absent. */
  mid?: string | undefined;
  /** Dotted config key, e.g. `routes[0].target.eventDefinitionKey`. */
  configKey: string;
}

/** A verdict with the config key it is about. */
export type ProbeVerdict = DefinitionVerdict & { configKey: string; mid?: string | undefined };

/** A scope the token lacks, with the first route that needs it. */
export interface MissingScope {
  scope: string;
  configKey: string;
  granted: string;
}

/** What one full probe found. */
export interface ProbeReport {
  verdicts: ProbeVerdict[];
  missingScopes: MissingScope[];
}

/** The part of a route the probe reads. */
export interface ProbedRoute {
  name: string;
  target: {
    type: string;
    eventDefinitionKey?: string | undefined;
    definitionKey?: string | undefined;
    mid?: string | undefined;
    key?: string | undefined;
  };
}

/** Scopes each target type needs: to send, and to be looked up by the probe. */
export const SCOPES_BY_TARGET: Readonly<Record<string, readonly string[]>> = {
  journey: ['journeys_execute', 'journeys_read'],
  transactional: ['email_send', 'email_read'],
  triggeredSend: ['email_send'],
  contactDelete: ['list_and_subscribers_write', 'list_and_subscribers_read'],
  dataExtension: ['data_extensions_write', 'data_extensions_read'],
};

// Data extensions are checked by `check` through their fields (SOAP DataExtensionField, the
// dataExtension target's own check); the REST lookup in mc/definitions.ts is the hook to use
// here too once the emulator answers it.
const KIND_BY_TARGET: Readonly<Record<string, DefinitionKind>> = {
  journey: 'eventDefinition',
  transactional: 'sendDefinition',
  triggeredSend: 'triggeredSendDefinition',
};

/** The definitions the routes name in the config (a mapper may name more at run time). */
export function subjectsOf(routes: readonly ProbedRoute[]): ProbeSubject[] {
  const out: ProbeSubject[] = [];
  routes.forEach((route, i) => {
    const t = route.target;
    const kind = KIND_BY_TARGET[t.type];
    if (kind === undefined) return;
    const field = t.type === 'journey' ? 'eventDefinitionKey' : t.type === 'dataExtension' ? 'key' : 'definitionKey';
    const key = t[field as 'eventDefinitionKey' | 'definitionKey' | 'key'];
    if (key === undefined) return;
    out.push({ kind, key, mid: t.mid, configKey: `routes[${i}].target.${field}` });
  });
  return out;
}

/** The definition an action is sent to, or undefined for targets without one. */
export function subjectOfAction(target: ActionTarget | string, payload: ActionPayload): Omit<ProbeSubject, 'configKey'> | undefined {
  const kind = KIND_BY_TARGET[target];
  if (kind === undefined) return undefined;
  const p = payload as { eventDefinitionKey?: string; definitionKey?: string; key?: string; mid?: string };
  const key = p.eventDefinitionKey ?? p.definitionKey ?? p.key;
  return key === undefined ? undefined : { kind, key, mid: p.mid };
}

/** The scopes the routes need that `granted` (space-separated) lacks. */
export function missingScopes(routes: readonly ProbedRoute[], granted: string): MissingScope[] {
  const have = new Set(granted.split(/\s+/).filter(Boolean));
  const out = new Map<string, MissingScope>();
  routes.forEach((route, i) => {
    for (const scope of SCOPES_BY_TARGET[route.target.type] ?? []) {
      if (!have.has(scope) && !out.has(scope)) out.set(scope, { scope, configKey: `routes[${i}].target.type`, granted });
    }
  });
  return [...out.values()];
}

/** Where the probe reports what it finds. */
export interface ProbeEvents {
  /** A definition is broken (first seen so, or broken again after being fixed). */
  problem?(v: ProbeVerdict): void;
  /** A definition reported broken is usable again. */
  recovered?(v: ProbeVerdict): void;
  /** The token lacks a scope a route needs. */
  missingScope?(m: MissingScope): void;
}

/** Probe options. */
export interface TargetProbeOptions {
  clientFor: ClientFor;
  routes: readonly ProbedRoute[];
  /** Re-probe period; 0 probes only at start. @default 300000 */
  intervalMs?: number;
  /** Most keys remembered (configured and seen at run time). @default 1000 */
  cacheMax?: number;
  events?: ProbeEvents;
}

const id = (s: Omit<ProbeSubject, 'configKey'>) => `${s.kind}\u0000${s.mid ?? ''}\u0000${s.key}`;

/** Looks definitions up, remembers verdicts, and re-checks them on a timer. */
export class TargetProbe {
  readonly #opts: TargetProbeOptions;
  readonly #subjects: ProbeSubject[];
  readonly #verdicts: LRUCache<string, ProbeVerdict>;
  readonly #inflight = new Map<string, Promise<ProbeVerdict>>();
  /** Keys reported broken, so a problem is reported once and its recovery too. */
  readonly #reported = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ProbeReport> | undefined;

  constructor(opts: TargetProbeOptions) {
    this.#opts = opts;
    this.#subjects = subjectsOf(opts.routes);
    const ttl = opts.intervalMs ?? 300_000;
    this.#verdicts = new LRUCache({ max: Math.max(1, opts.cacheMax ?? 1000), ...(ttl > 0 ? { ttl: ttl * 2 } : {}) });
  }

  /** Probes every configured definition and the token's scopes. */
  probeAll(): Promise<ProbeReport> {
    this.#running ??= this.#probeAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #probeAll(): Promise<ProbeReport> {
    const seen = new Map<string, ProbeSubject>();
    for (const s of this.#subjects) if (!seen.has(id(s))) seen.set(id(s), s);
    // Keys first met at run time are re-checked too: they may go inactive like any other.
    for (const v of this.#verdicts.values()) if (!seen.has(id(v))) seen.set(id(v), v);
    const verdicts: ProbeVerdict[] = [];
    for (const s of seen.values()) verdicts.push(await this.#lookup(s));
    // Subjects sharing a key share one lookup; each config key still gets its own line.
    const byId = new Map(verdicts.map((v) => [id(v), v]));
    const all = this.#subjects.map((s) => ({ ...byId.get(id(s))!, configKey: s.configKey }));
    for (const v of verdicts) if (!this.#subjects.some((s) => id(s) === id(v))) all.push(v);
    const missing = await this.#scopes();
    return { verdicts: all, missingScopes: missing };
  }

  async #scopes(): Promise<MissingScope[]> {
    let granted: string | undefined;
    try {
      granted = (await this.#opts.clientFor(undefined).tokens.get()).scope;
    } catch {
      return []; // no token: the lookups above already say unreachable
    }
    if (granted === undefined) return [];
    const missing = missingScopes(this.#opts.routes, granted);
    for (const m of missing) this.#opts.events?.missingScope?.(m);
    return missing;
  }

  /** The verdict on the definition an action goes to: cached, or looked up once now. */
  async verdictFor(subject: Omit<ProbeSubject, 'configKey'>): Promise<ProbeVerdict> {
    const cached = this.#verdicts.get(id(subject));
    if (cached) return cached;
    return this.#lookup({ ...subject, configKey: '(from the event)' });
  }

  /** The cached verdict, without looking anything up (the delivery hot path). */
  cached(subject: Omit<ProbeSubject, 'configKey'>): ProbeVerdict | undefined {
    return this.#verdicts.get(id(subject));
  }

  #lookup(s: ProbeSubject): Promise<ProbeVerdict> {
    const k = id(s);
    let pending = this.#inflight.get(k);
    if (!pending) {
      pending = (async () => {
        const found = await lookupDefinition(this.#opts.clientFor(s.mid), s.kind, s.key);
        const verdict: ProbeVerdict = { ...found, configKey: s.configKey, mid: s.mid };
        // An unreachable lookup says nothing about the definition: keep what was known.
        if (verdict.state !== 'unreachable') {
          this.#verdicts.set(k, verdict);
          this.#report(k, verdict);
        }
        return verdict;
      })().finally(() => this.#inflight.delete(k));
      this.#inflight.set(k, pending);
    }
    return pending;
  }

  #report(k: string, v: ProbeVerdict): void {
    if (isBroken(v.state)) {
      if (this.#reported.has(k)) return;
      this.#reported.add(k);
      this.#opts.events?.problem?.(v);
    } else if (this.#reported.delete(k)) {
      this.#opts.events?.recovered?.(v);
    }
  }

  /** Probes now and then every `intervalMs` (when above 0). */
  start(): void {
    void this.probeAll().catch(() => undefined);
    const every = this.#opts.intervalMs ?? 300_000;
    if (every > 0) {
      this.#timer = setInterval(() => {
        void this.probeAll().catch(() => undefined);
      }, every);
      this.#timer.unref();
    }
  }

  /** Stops the timer and waits for a probe in progress. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
