/**
 * The built-in declarative mapper of data extension routes: one row per record, with the
 * Contact Key in the route's `contactKeyColumn`, `mapping.data` as the other columns, each
 * formatted for its declared type (src/route/field-format.ts). The row's version is the change's
 * commitTimestamp (SystemModstamp or LastModifiedDate when the event has none), so the target can
 * let the newest change win. A CDC DELETE is ignored or becomes a soft delete (the row upserted
 * with `deletedColumn` true), as the route says. Bad input is a MappingError naming the column.
 *
 * Route: {"name": "contacts-de", "channel": "/data/ContactChangeEvent", "changeTypes": ["CREATE", "UPDATE", "DELETE"],
 *         "target": {"type": "dataExtension", "key": "Contacts_Sendable", "fieldTypes": {"Email": "EmailAddress"}, "deletes": "softDelete"},
 *         "mapping": {"data": {"Email": "Email", "LastName": "Name.LastName"}, "required": ["Email"]}}
 */
import { Code, MappingError } from '../src/core/errors.ts';
import type { MappedAction, NormalizedEvent } from '../src/core/model.ts';
import type { RouteConfig } from '../src/config/schema.ts';
import { formatColumn, versionOf, type ColumnValue } from '../src/route/field-format.ts';
import { mappedData, missingHint } from './journey-entry.ts';

/** The change's version: when Salesforce committed it. */
export function rowVersion(event: NormalizedEvent): number {
  return event.commitTimestamp ?? versionOf(event.fields.SystemModstamp) ?? versionOf(event.fields.LastModifiedDate) ?? event.receivedAt;
}

/** Maps `event` to one data extension row as the route's target and `mapping` describe. Pure. */
export default function dataExtensionRow(event: NormalizedEvent, route: RouteConfig): MappedAction[] | MappingError {
  const target = route.target;
  if (target.type !== 'dataExtension') {
    return new MappingError(
      Code.MAPPING_WRONG_TARGET,
      'target.type',
      `route "${route.name}": the data-extension-row mapper makes rows, not ${target.type} actions`,
    );
  }
  if (event.contactKey === '') {
    return new MappingError(
      Code.MAPPING_NO_CONTACT_KEY,
      'recordId',
      `route "${route.name}": ${event.entityName} ${event.changeType} event has no record ID, so no Contact Key`,
    );
  }
  const where = `${event.entityName} ${event.recordId}`;
  const primaryKey = [target.contactKeyColumn, ...target.primaryKey];
  const row: Record<string, ColumnValue> = { [target.contactKeyColumn]: event.contactKey };
  const mode = target.mode === 'sync' ? 'single' : 'batch';
  const payload = (r: Record<string, ColumnValue>) => ({
    key: target.key,
    contactKey: event.contactKey,
    row: r,
    primaryKey,
    version: rowVersion(event),
  });
  if (event.changeType === 'DELETE' || event.changeType === 'GAP_DELETE') {
    if (target.deletes === 'ignore') return [];
    if (target.primaryKey.length > 0) {
      return new MappingError(
        Code.MAPPING_SOFT_DELETE_KEY,
        'target.primaryKey',
        `route "${route.name}": cannot soft-delete ${where}: a DELETE carries no field data, so primary key column(s) ${target.primaryKey.join(', ')} have no value`,
      );
    }
    row[target.deletedColumn] = true;
    return [{ target: 'dataExtension', mode, payload: payload(row) }];
  }
  const data = mappedData(event, route);
  if (data instanceof MappingError) return data;
  for (const [column, value] of Object.entries(data)) {
    const path = route.mapping?.data[column] ?? column;
    const formatted = formatColumn(target.fieldTypes[column] ?? 'Text', value, {
      field: path === column ? column : `${column} (from ${path})`,
      where,
    });
    if (formatted instanceof MappingError) return formatted;
    row[column] = formatted;
  }
  for (const column of target.primaryKey) {
    if (row[column] === undefined || row[column] === null || row[column] === '') {
      return new MappingError(
        Code.MAPPING_MISSING_FIELD,
        column,
        `route "${route.name}": primary key column ${column} has no value on ${where} (${event.changeType})${missingHint(event)}`,
      );
    }
  }
  if (target.deletes === 'softDelete') row[target.deletedColumn] = false;
  return [{ target: 'dataExtension', mode, payload: payload(row) }];
}
