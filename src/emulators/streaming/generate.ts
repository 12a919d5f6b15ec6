/**
 * Bulk generation of realistic Contact changes for the demo and the benchmark: CREATEs of new
 * contacts (valid 18-character IDs, compound Name, email, phone, owner) and UPDATEs of contacts
 * created earlier, each with the `changedFields` Salesforce would send. The random choices come
 * from a seeded generator so a run can be repeated.
 */
import { mulberry32 } from '../random.ts';
import type { ChangeSpec, GenerateContactOptions } from './types.ts';
import { salesforceId } from './payloads.ts';

const FIRST_NAMES = ['Jane', 'John', 'Amara', 'Li', 'Sofia', 'Mateo', 'Noor', 'Kenji', 'Olga', 'Ravi', 'Chloé', 'Tomás'];
const LAST_NAMES = ['Doe', 'Smith', 'Okafor', 'Wang', 'García', 'Rossi', 'Haddad', 'Sato', 'Ivanova', 'Patel', 'Müller', 'Silva'];
const TITLES = ['CEO', 'VP Marketing', 'Buyer', 'Engineer', 'Office Manager', 'Director of Sales'];
const LEAD_SOURCES = ['Web', 'Phone Inquiry', 'Partner Referral', 'Trade Show'];
const OWNERS = [salesforceId('005', 4_211_097), salesforceId('005', 4_211_240), salesforceId('005', 4_215_003)];
const ACCOUNTS = Array.from({ length: 50 }, (_, i) => salesforceId('001', 9_000_000 + i * 37));

/** Contacts created so far by one emulator; UPDATEs pick among them. */
export interface ContactPool {
  ids: string[];
  /** Serial of the next contact ID. */
  nextSerial: number;
}

/** A fresh pool; serials start at a random point so two emulators do not share IDs. */
export function newContactPool(): ContactPool {
  return { ids: [], nextSerial: 1_000_000 + Math.floor(Math.random() * 1_000_000_000) };
}

/**
 * Calls `publish` with `count` Contact change specs; returns the first and last replay IDs.
 * `publish` returns the replay ID it gave the event.
 */
export function generateContactChanges(
  pool: ContactPool,
  count: number,
  opts: GenerateContactOptions,
  publish: (spec: ChangeSpec) => number,
): { firstReplayId: number; lastReplayId: number } {
  const random = mulberry32(opts.seed ?? 0x5eed);
  const updateRatio = opts.updateRatio ?? 0.7;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  let firstReplayId = -1;
  let lastReplayId = -1;
  for (let i = 0; i < count; i++) {
    const now = Date.now();
    const iso = new Date(now).toISOString();
    const owner = pick(OWNERS);
    let spec: ChangeSpec;
    if (pool.ids.length === 0 || random() >= updateRatio) {
      const id = salesforceId('003', pool.nextSerial++);
      pool.ids.push(id);
      const first = pick(FIRST_NAMES);
      const last = pick(LAST_NAMES);
      spec = {
        entityName: 'Contact',
        changeType: 'CREATE',
        recordIds: [id],
        commitTimestamp: now,
        commitUser: owner,
        fields: {
          Name: { FirstName: first, LastName: last },
          Email: `${first}.${last}.${pool.ids.length}@example.com`.toLowerCase(),
          Phone: phone(random),
          Title: pick(TITLES),
          LeadSource: pick(LEAD_SOURCES),
          AccountId: pick(ACCOUNTS),
          OwnerId: owner,
          HasOptedOutOfEmail: false,
          CreatedDate: iso,
          CreatedById: owner,
          LastModifiedDate: iso,
          LastModifiedById: owner,
        },
      };
    } else {
      const id = pick(pool.ids);
      const fields = updateFields(random, pick, pool.ids.length);
      fields.LastModifiedDate = iso;
      fields.LastModifiedById = owner;
      spec = { entityName: 'Contact', changeType: 'UPDATE', recordIds: [id], commitTimestamp: now, commitUser: owner, fields };
    }
    if (opts.changeOrigin !== undefined) spec.changeOrigin = opts.changeOrigin;
    lastReplayId = publish(spec);
    if (i === 0) firstReplayId = lastReplayId;
  }
  return { firstReplayId, lastReplayId };
}

/** The fields one typical Contact edit changes. */
function updateFields(random: () => number, pick: <T>(list: readonly T[]) => T, n: number): Record<string, unknown> {
  const roll = random();
  if (roll < 0.4) return { Email: `${pick(FIRST_NAMES)}.${pick(LAST_NAMES)}.${n}.${Math.floor(random() * 1e6)}@example.org`.toLowerCase() };
  if (roll < 0.6) return { Name: { LastName: pick(LAST_NAMES) } };
  if (roll < 0.8) return { Phone: phone(random) };
  if (roll < 0.9) return { Title: pick(TITLES) };
  return { HasOptedOutOfEmail: true };
}

function phone(random: () => number): string {
  return `+1 415 555 ${String(Math.floor(random() * 10_000)).padStart(4, '0')}`;
}
