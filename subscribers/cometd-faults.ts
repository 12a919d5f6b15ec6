/**
 * What a failed Bayeux reply means, decided in one place (docs/protocols.md §1, "Errors and what a
 * subscriber must do"). The subscriber acts on the returned decision and guesses nothing else.
 *
 * | reply                                               | decision                          |
 * |-----------------------------------------------------|-----------------------------------|
 * | `401::…` (error or ext.sfdc.failureReason)          | reauth: new token, new client     |
 * | `403::Handshake denied` + failureReason 401         | reauth                            |
 * | `403::Unknown client`, or any `reconnect: none`     | rehandshake: new client           |
 * | `400::The replayId {N} you provided was invalid…`   | replay-invalid: fallback, loss    |
 * | `503::…` (error or failureReason)                   | backoff                           |
 * | `…total events daily limit exceeded`                | pause, alert                      |
 * | `…concurrent user limit exceeded`                   | jitter: randomized backoff        |
 * | anything else on a subscribe (unknown channel, …)   | report: logged, stream goes on    |
 * | anything else                                        | rehandshake                       |
 */

/** A Bayeux reply with `successful: false`. */
export interface FailedReply {
  channel: string;
  error?: string;
  subscription?: string | string[];
  advice?: { reconnect?: string; interval?: number };
  ext?: Record<string, unknown>;
}

/** What the subscriber must do about a failed reply. */
export type FaultDecision =
  | { kind: 'reauth'; reason: string }
  | { kind: 'rehandshake'; reason: string }
  | { kind: 'replay-invalid'; channels: string[]; reason: string }
  | { kind: 'backoff'; reason: string }
  | { kind: 'pause'; reason: string }
  | { kind: 'jitter'; reason: string }
  | { kind: 'report'; reason: string };

/** The Salesforce reason of a failed reply: `ext.sfdc.failureReason` when present, else `error`. */
export function failureReason(reply: FailedReply): string {
  const sfdc = reply.ext?.sfdc as { failureReason?: unknown } | undefined;
  const reason = typeof sfdc?.failureReason === 'string' ? sfdc.failureReason : undefined;
  return reason ?? reply.error ?? 'unknown failure';
}

/** Decides what a failed reply means. */
export function decideFault(reply: FailedReply): FaultDecision {
  const error = reply.error ?? '';
  const reason = failureReason(reply);
  const both = `${error} ${reason}`;
  if (/\b401::/.test(both) || error.startsWith('401') || reason.startsWith('401')) return { kind: 'reauth', reason };
  if (reply.channel === '/meta/subscribe' && /^400::The replayId \{.*\} you provided was invalid/.test(error)) {
    return { kind: 'replay-invalid', channels: [reply.subscription ?? []].flat(), reason: error };
  }
  if (/daily limit exceeded/i.test(both)) return { kind: 'pause', reason };
  if (/concurrent user limit exceeded/i.test(both)) return { kind: 'jitter', reason };
  if (/\b503::/.test(both) || reason.startsWith('503')) return { kind: 'backoff', reason };
  if (error.startsWith('403::Unknown client')) return { kind: 'rehandshake', reason };
  if (reply.channel === '/meta/subscribe' && reply.advice?.reconnect !== 'none') return { kind: 'report', reason };
  if (reply.channel === '/meta/connect' && reply.advice?.reconnect === 'retry') return { kind: 'backoff', reason };
  return { kind: 'rehandshake', reason };
}
