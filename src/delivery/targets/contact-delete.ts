/**
 * The contactDelete target: `POST /contacts/v1/contacts/actions/delete?type=keys` with the
 * chunk's Contact Keys and `DeleteOperationType: "ContactAndAttributes"`. Marketing Cloud
 * answers with an OperationID and deletes later (one operation at a time per account, often
 * hours); the ID is the action's delivery ID (shown by `trace`) and is handed to the follower
 * (deletion-status.ts), which asks for its status until it completes.
 *
 * Guard rails, because a deletion cannot be undone: in dry run nothing is sent and each
 * deletion is dead-lettered as CONTACT_DELETE_DRY_RUN after a log line saying what would go;
 * past `maxPerHour` contacts in a rolling hour the rest are dead-lettered as
 * CONTACT_DELETE_CAPPED with an alert line (a mass delete in Salesforce is more often a mistake
 * than a request). Either way `dlq retry` sends them once someone has looked.
 */
import { Code, PermanentError } from '../../core/errors.ts';
import type { ContactDeletePayload, DeliveryIds } from '../../core/model.ts';
import type { McRestClient } from '../mc/http.ts';
import { clientLookup, failed, groupBy, type ClientFor, type DeliveryItem, type DeliveryOutcome, type Target } from '../target.ts';

/** Marketing Cloud's delete-by-key endpoint. */
export const CONTACT_DELETE_PATH = '/contacts/v1/contacts/actions/delete?type=keys';

/** What the target tells the outside world (TargetTelemetry logs and counts it). */
export interface ContactDeleteEvents {
  /** Dry run: these would have been deleted. */
  wouldDelete?(contactKeys: readonly string[]): void;
  /** The hourly cap held these back. */
  capped?(contactKeys: readonly string[], usedThisHour: number, cap: number): void;
  /** Marketing Cloud accepted a deletion operation. */
  accepted?(operationId: string, contactKeys: readonly string[], mid: string | undefined): void;
}

/** Options of the contactDelete target. */
export interface ContactDeleteOptions {
  /** Contact Keys per request. @default 1000 */
  batchSize?: number;
  /** Most contacts deleted in any rolling hour. @default 1000 */
  maxPerHour?: number;
  /** Log and dead-letter instead of sending. @default false */
  dryRun?: boolean;
  events?: ContactDeleteEvents;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

interface DeleteAnswer {
  operationID?: unknown;
  operationInitiated?: unknown;
  hasErrors?: unknown;
  resultMessages?: unknown;
  requestServiceMessageID?: unknown;
}

const HOUR_MS = 3_600_000;

/** Builds the contactDelete target. */
export function createContactDeleteTarget(clients: McRestClient | ClientFor, opts: ContactDeleteOptions = {}): Target<ContactDeletePayload> {
  const clientFor = clientLookup(clients);
  const batchSize = Math.max(1, opts.batchSize ?? 1000);
  const cap = Math.max(1, opts.maxPerHour ?? 1000);
  const now = opts.now ?? Date.now;
  // Contacts sent per moment, for the rolling hour (kept in memory: a restart starts a new hour).
  const sent: { at: number; n: number }[] = [];
  const usedThisHour = (t: number): number => {
    while (sent.length > 0 && sent[0]!.at <= t - HOUR_MS) sent.shift();
    return sent.reduce((sum, s) => sum + s.n, 0);
  };

  async function deleteChunk(chunk: DeliveryItem<ContactDeletePayload>[]): Promise<DeliveryOutcome[]> {
    const keys = [...new Set(chunk.map((i) => i.payload.contactKey))];
    const mid = chunk[0]!.payload.mid;
    try {
      const res = await clientFor(mid).post<DeleteAnswer>(CONTACT_DELETE_PATH, { values: keys, DeleteOperationType: 'ContactAndAttributes' });
      const body = res.body ?? {};
      const opId = body.operationID;
      if (body.operationInitiated === false || body.hasErrors === true || (typeof opId !== 'number' && typeof opId !== 'string')) {
        const why = JSON.stringify(body.resultMessages ?? body).slice(0, 300);
        const error = new PermanentError(
          Code.MC_REJECTED,
          `Marketing Cloud did not start the deletion of ${keys.length} contact(s): ${why} (is Contact Delete enabled in the account?)`,
          { status: res.status },
        );
        return chunk.map((i) => ({ id: i.id, status: 'dead' as const, error }));
      }
      const ids: DeliveryIds = { operationId: String(opId) };
      if (typeof body.requestServiceMessageID === 'string') ids.requestId = body.requestServiceMessageID;
      opts.events?.accepted?.(String(opId), keys, mid);
      return chunk.map((i) => ({ id: i.id, status: 'delivered' as const, ids }));
    } catch (err) {
      return chunk.map((i) => failed(i.id, err));
    }
  }

  return {
    async deliver(items) {
      if (opts.dryRun) {
        opts.events?.wouldDelete?.(items.map((i) => i.payload.contactKey));
        return items.map((i) => ({
          id: i.id,
          status: 'dead' as const,
          error: new PermanentError(
            Code.CONTACT_DELETE_DRY_RUN,
            `dry run: contact ${i.payload.contactKey} would have been deleted from Marketing Cloud; nothing was sent (\`sfmc-bridge dlq retry\` sends it)`,
          ),
        }));
      }
      const t = now();
      const room = Math.max(0, cap - usedThisHour(t));
      const allowed = items.slice(0, room);
      const held = items.slice(room);
      const out = new Map<number, DeliveryOutcome>();
      if (held.length > 0) {
        // The hour is full once the allowed ones go out: held back is whatever is over the cap.
        const used = cap - room + allowed.length;
        opts.events?.capped?.(
          held.map((i) => i.payload.contactKey),
          used,
          cap,
        );
        for (const i of held) {
          out.set(i.id, {
            id: i.id,
            status: 'dead',
            error: new PermanentError(
              Code.CONTACT_DELETE_CAPPED,
              `not deleted: ${used} contact(s) already deleted in the last hour, the cap (dispatcher.deletes.maxPerHour) is ${cap}; review, then \`sfmc-bridge dlq retry\` sends it`,
            ),
          });
        }
      }
      if (allowed.length > 0) sent.push({ at: t, n: allowed.length });
      for (const group of groupBy(allowed, (i) => i.payload.mid ?? '')) {
        for (let i = 0; i < group.length; i += batchSize) {
          for (const o of await deleteChunk(group.slice(i, i + batchSize))) out.set(o.id, o);
        }
      }
      return items.map((i) => out.get(i.id)!);
    },
  };
}
