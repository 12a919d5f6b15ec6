/**
 * What Salesforce accepts in the metadata the bridge ships, written down once so that the
 * offline rules (rules.ts), the config cross-check (cross-check.ts) and the tests agree.
 * Sources: Metadata API reference (CustomField, PlatformEventChannelMember), the Platform
 * Events and Change Data Capture developer guides (enrichment, filter expressions), and
 * docs/protocols.md §5. Where a list is necessarily partial (standard objects), a miss is reported
 * as a warning, never silently accepted.
 */

/** Field types a platform event may have (Setup offers exactly these six). */
export const EVENT_FIELD_TYPES: ReadonlySet<string> = new Set(['Text', 'LongTextArea', 'Number', 'Checkbox', 'Date', 'DateTime']);

/** Length bounds per text type: Text 1-255, Text Area (Long) 256-131,072. */
export const TEXT_LENGTH = { min: 1, max: 255 } as const;
export const LONG_TEXT_LENGTH = { min: 256, max: 131_072 } as const;
/** Number fields: at most 18 digits in all, scale within precision. */
export const NUMBER_PRECISION_MAX = 18;

/** Fields every platform event carries without being declared. */
export const EVENT_STANDARD_FIELDS: ReadonlySet<string> = new Set(['CreatedDate', 'CreatedById', 'EventUuid', 'ReplayId']);

/** The only publish behaviours a platform event may declare. */
export const PUBLISH_BEHAVIORS: ReadonlySet<string> = new Set(['PublishAfterCommit', 'PublishImmediately']);

/** The standard Change Data Capture channel; any other channel is a custom `<Name>__chn`. */
export const STANDARD_CHANGE_CHANNEL = 'ChangeEvents';

/**
 * Standard objects that support Change Data Capture (a frequently used subset of the object
 * reference's StandardObjectNameChangeEvent list). An object outside it is a warning: it may be
 * supported, but nothing here vouches for it.
 */
export const CDC_STANDARD_OBJECTS: ReadonlySet<string> = new Set([
  'Account',
  'Asset',
  'Campaign',
  'CampaignMember',
  'Case',
  'Contact',
  'ContactPointEmail',
  'ContactPointPhone',
  'Contract',
  'Entitlement',
  'Event',
  'Individual',
  'Lead',
  'Opportunity',
  'OpportunityLineItem',
  'Order',
  'OrderItem',
  'Pricebook2',
  'PricebookEntry',
  'Product2',
  'Quote',
  'QuoteLineItem',
  'ServiceAppointment',
  'Task',
  'User',
  'WorkOrder',
]);

/** At most this many enriched fields per channel member. */
export const MAX_ENRICHED_FIELDS = 10;

/**
 * Constituents of compound fields. Enrichment accepts the whole compound (Name, MailingAddress)
 * and refuses its parts, so `FirstName` must be enriched as `Name`.
 */
export const NAME_PARTS: ReadonlySet<string> = new Set(['FirstName', 'LastName', 'MiddleName', 'Salutation', 'Suffix']);
const ADDRESS_PARTS = ['Street', 'City', 'State', 'PostalCode', 'Country', 'StateCode', 'CountryCode', 'Latitude', 'Longitude', 'GeocodeAccuracy'];
const ADDRESS_PREFIXES = ['', 'Billing', 'Shipping', 'Mailing', 'Other'];

/** The compound field a constituent belongs to, or undefined when `field` is not a constituent. */
export function compoundOf(field: string): string | undefined {
  if (NAME_PARTS.has(field)) return 'Name';
  for (const prefix of ADDRESS_PREFIXES) {
    for (const part of ADDRESS_PARTS) {
      if (field === prefix + part) return `${prefix}Address`;
    }
  }
  if (/__(Latitude|Longitude)__s$/.test(field)) return field.replace(/__(Latitude|Longitude)__s$/, '__c');
  return undefined;
}

/** ChangeEventHeader fields a filter expression may not use (they are arrays). */
export const HEADER_ARRAY_FIELDS: ReadonlySet<string> = new Set(['recordIds', 'nulledFields', 'diffFields', 'changedFields']);

/** Comparison operators a channel member's filter expression may use. */
export const FILTER_OPERATORS: ReadonlySet<string> = new Set(['=', '!=', '>', '<', '>=', '<=', 'LIKE', 'IN', 'NOT IN']);

/** API versions that introduced what force-app uses. */
export const MIN_API = { enrichedFields: 51, filterExpression: 56 } as const;

/**
 * Standard fields that are always required, so field-level security cannot be set on them: a
 * permission set naming one is refused on deploy.
 */
export const REQUIRED_STANDARD_FIELDS: ReadonlySet<string> = new Set([
  'Account.Name',
  'Contact.LastName',
  'Lead.LastName',
  'Lead.Company',
  'Lead.Status',
  'Opportunity.Name',
  'Opportunity.StageName',
  'Opportunity.CloseDate',
  'Case.Status',
  'Case.Origin',
  'Order.Status',
  'Order.EffectiveDate',
  'Order.AccountId',
  'Campaign.Name',
  'Product2.Name',
]);

/** The only permissions a platform event takes: read (subscribe) and create (publish). */
export const EVENT_OBJECT_PERMISSIONS: ReadonlySet<string> = new Set(['allowRead', 'allowCreate']);

/** `Contact` → `ContactChangeEvent`; `Thing__c` → `Thing__ChangeEvent`. */
export function changeEventName(object: string): string {
  return object.endsWith('__c') ? `${object.slice(0, -3)}__ChangeEvent` : `${object}ChangeEvent`;
}

/** `ContactChangeEvent` → `Contact`; `Thing__ChangeEvent` → `Thing__c`; undefined for other names. */
export function objectOfChangeEvent(entity: string): string | undefined {
  if (entity.endsWith('__ChangeEvent')) return `${entity.slice(0, -'__ChangeEvent'.length)}__c`;
  if (entity.endsWith('ChangeEvent') && entity.length > 'ChangeEvent'.length) return entity.slice(0, -'ChangeEvent'.length);
  return undefined;
}

/** The developer name Salesforce gives a channel member: `ChangeEvents_ContactChangeEvent`, `My_chn_ContactChangeEvent`. */
export function channelMemberName(channel: string, entity: string): string {
  return `${channel.replace(/__chn$/, '_chn')}_${entity}`;
}
