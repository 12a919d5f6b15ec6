/**
 * The channel the benchmarks subscribe to and their one route ('bench': CREATEs and UPDATEs
 * of Contacts to a target), shared by the default scenario and its variants (run.ts), the
 * burst (burst.ts), the planner's allocation measure (plan-alloc.ts) and the memory probe.
 */

/** The Contact change channel every benchmark reads. */
export const BENCH_CHANNEL = '/data/ContactChangeEvent';

/** The default scenario's target: journey entries in async batches. */
export const JOURNEY_TARGET = { type: 'journey', eventDefinitionKey: 'APIEvent-bench', mode: 'batch' } as const;

/** The mapped fields of the default scenario's entries. */
const CONTACT_DATA: Record<string, string> = { Email: 'Email', FirstName: 'FirstName', LastName: 'LastName' };

/** The benchmarks' route to `target`, mapping `data` (the contact's e-mail and names by default). */
export function benchRoute(target: Record<string, unknown> = JOURNEY_TARGET, data: Record<string, string> = CONTACT_DATA): Record<string, unknown> {
  return { name: 'bench', channel: BENCH_CHANNEL, changeTypes: ['CREATE', 'UPDATE'], target, mapping: { data } };
}
