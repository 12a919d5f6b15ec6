/** Builders of raw subscriber messages shaped as Salesforce delivers them over CometD (docs/protocols.md §1). */
import type { RawEvent } from '../../src/core/model.ts';
import type { ChannelConfig } from '../../src/config/schema.ts';

/** A change event message; `header` and `fields` override the defaults (a Contact UPDATE of Email). */
export function changeEvent(
  opts: { channel?: string; replayId?: string; header?: Record<string, unknown>; fields?: Record<string, unknown> } = {},
): RawEvent {
  const replayId = opts.replayId ?? '123456';
  return {
    channel: opts.channel ?? '/data/ContactChangeEvent',
    replayId,
    receivedAt: 1_760_000_000_000,
    data: {
      schema: 'x1Hb2bM1Zb0NS1gJYkKF7w',
      event: { replayId: Number(replayId) },
      payload: {
        ChangeEventHeader: {
          entityName: 'Contact',
          recordIds: ['0035g00000XyZabAAF'],
          changeType: 'UPDATE',
          changeOrigin: 'com/salesforce/api/soap/62.0;client=SomeApp',
          transactionKey: '0002a1b2-0000-4000-8000-000000000001',
          sequenceNumber: 1,
          commitTimestamp: 1714156685000,
          commitNumber: 11657372702432,
          commitUser: '0055g00000AbCdEAAV',
          changedFields: ['Email', 'LastModifiedDate'],
          ...opts.header,
        },
        ...(opts.fields ?? { Email: 'jane@example.com', LastModifiedDate: '2026-04-09T20:26:27.000Z' }),
      },
    },
  };
}

/** A platform event message. */
export function platformEvent(
  opts: { channel?: string; replayId?: string; eventUuid?: string | undefined; payload?: Record<string, unknown> } = {},
): RawEvent {
  const replayId = opts.replayId ?? '2';
  const event: Record<string, unknown> = { replayId: Number(replayId) };
  if (opts.eventUuid !== undefined) event.EventUuid = opts.eventUuid;
  return {
    channel: opts.channel ?? '/event/MC_Journey_Entry__e',
    replayId,
    receivedAt: 1_760_000_000_000,
    data: {
      schema: 'dffQ2QLzDNHqwB8_sHMxdA',
      event,
      payload: opts.payload ?? {
        CreatedDate: '2026-04-09T18:31:40.517Z',
        CreatedById: '0055g00000AbCdE',
        Record_Id__c: '0035g00000XyZab',
        Event_Definition_Key__c: 'APIEvent-admin',
        Data__c: '{"Email":"jane@example.com"}',
      },
    },
  };
}

/** A channel config with defaults filled as the schema fills them. */
export function channel(name: string, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return { name, replayFrom: -1, replayFallback: -2, recordIdField: 'Record_Id__c', ...overrides };
}
