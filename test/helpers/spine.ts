/**
 * The spine's end-to-end scenario, the same over either transport: the changes published and
 * what Marketing Cloud must receive from them.
 */
import { expect } from '@jest/globals';
import type { McEmulator } from '../../src/emulators/mc/types.ts';
import type { StreamingEmulator } from '../../src/emulators/streaming/types.ts';
import { contactId, WELCOME_KEY } from './harness.ts';

/** What `publishSpineChanges` published. */
export interface SpineScenario {
  /** 250 created contacts, with name and e-mail. */
  created: string[];
  /** The three records of one multi-ID event. */
  merged: string[];
  /** Entries Marketing Cloud must hold in the end. */
  expected: number;
  /** The last event published (its replay ID is the final checkpoint). */
  last: ReturnType<StreamingEmulator['publishChange']>;
}

/**
 * Publishes creates, a multi-ID update, a 15-character ID, an unrouted change and an invalid
 * ID; `beforeLast` may publish more bad input before the last valid create.
 */
export function publishSpineChanges(sf: StreamingEmulator, beforeLast?: () => void): SpineScenario {
  const created = Array.from({ length: 250 }, (_, i) => contactId(i));
  for (const [i, id] of created.entries()) {
    sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [id], fields: { Name: { FirstName: `F${i}`, LastName: `L${i}` }, Email: `c${i}@example.com` } });
  }
  // One event for three records: fanned out to three entries.
  const merged = [contactId(1000), contactId(1001), contactId(1002)];
  sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: merged, fields: { Email: 'shared@example.com' } });
  // A 15-character ID becomes its 18-character form: chunks 0035g, 00000, XyZab give suffix A, A, F (X and Z set bits 0 and 2).
  sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: ['0035g00000XyZab'], fields: { Email: 'short@example.com' } });
  // Not routed: the e-mail did not change.
  sf.publishChange({ entityName: 'Contact', changeType: 'UPDATE', recordIds: [contactId(2000)], fields: { Phone: '555' } });
  // Bad input: dead-lettered, the stream goes on.
  sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: ['003-broken'], fields: { Email: 'x@example.com' } });
  beforeLast?.();
  const last = sf.publishChange({ entityName: 'Contact', changeType: 'CREATE', recordIds: [contactId(3000)], fields: { Email: 'last@example.com' } });
  return { created, merged, expected: 250 + 3 + 1 + 1, last };
}

/** Marketing Cloud holds exactly the scenario's entries: once each, 18-character keys, the mapped data. */
export function expectSpineEntries(mc: McEmulator, { created, merged, expected }: SpineScenario): void {
  const entries = mc.received();
  expect(entries).toHaveLength(expected);
  expect(mc.stats().duplicates).toBe(0);
  const keys = new Set(entries.map((e) => e.contactKey));
  for (const id of [...created, ...merged, '0035g00000XyZabAAF', contactId(3000)]) expect(keys).toContain(id);
  expect(keys).not.toContain(contactId(2000));
  expect(entries.every((e) => e.contactKey.length === 18 && e.eventDefinitionKey === WELCOME_KEY && e.via === 'async')).toBe(true);
  expect(mc.received({ contactKey: created[7]! })[0]!.data).toEqual({ Email: 'c7@example.com', FirstName: 'F7', LastName: 'L7' });
}
