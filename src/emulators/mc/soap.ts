/**
 * The one SOAP call the bridge makes: `Retrieve` of `DataExtensionField` filtered on
 * `DataExtension.CustomerKey`, the documented way to read a data extension's fields (REST has
 * no documented equivalent). The OAuth token travels in the `fueloauth` header element, as
 * Marketing Cloud's SOAP API takes it. Answers the fields of a defined data extension, in the
 * RetrieveResponseMsg shape; anything else is a SOAP fault.
 */
import type { ParsedRequest, Reply } from './http.ts';
import type { DeTables } from './rows.ts';

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The SOAP endpoint's answer to `req`; `tokenValid` checks the fueloauth token. */
export function handleSoap(tables: DeTables, req: ParsedRequest, tokenValid: (token: string) => boolean): Reply & { xml: string } {
  const token = /<fueloauth[^>]*>([^<]+)<\/fueloauth>/.exec(req.text)?.[1]?.trim();
  if (!token || !tokenValid(token)) return fault('Login failed: the fueloauth token is missing, expired or revoked.', 401);
  const type = /<ObjectType>([^<]+)<\/ObjectType>/.exec(req.text)?.[1]?.trim();
  if (type !== 'DataExtensionField') return fault(`Retrieve of ${type ?? '(no ObjectType)'} is not supported by the emulator.`, 500);
  const filter = /<Property>DataExtension\.CustomerKey<\/Property>\s*<SimpleOperator>equals<\/SimpleOperator>\s*<Value>([^<]*)<\/Value>/.exec(
    req.text,
  );
  const key = filter?.[1]?.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  const def = key === undefined ? undefined : tables.definitions.get(key);
  const results = (def?.fields ?? [])
    .map(
      (f, i) =>
        `<Results xsi:type="DataExtensionField"><CustomerKey>[${xml(def!.key)}].[${xml(f.name)}]</CustomerKey><Name>${xml(f.name)}</Name>` +
        `<Ordinal>${i}</Ordinal><IsRequired>${Boolean(f.isRequired || f.isPrimaryKey)}</IsRequired><MaxLength>${f.maxLength ?? (f.type === 'Text' ? 50 : 0)}</MaxLength>` +
        `<IsPrimaryKey>${Boolean(f.isPrimaryKey)}</IsPrimaryKey><FieldType>${xml(f.type)}</FieldType></Results>`,
    )
    .join('');
  return envelope(
    `<RetrieveResponseMsg xmlns="http://exacttarget.com/wsdl/partnerAPI"><OverallStatus>OK</OverallStatus><RequestID>emulator</RequestID>${results}</RetrieveResponseMsg>`,
    200,
  );
}

function fault(message: string, status: number): Reply & { xml: string } {
  return envelope(`<soap:Fault><faultcode>soap:Client</faultcode><faultstring>${xml(message)}</faultstring></soap:Fault>`, status);
}

function envelope(body: string, status: number): Reply & { xml: string } {
  return {
    status,
    xml: `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>${body}</soap:Body></soap:Envelope>`,
  };
}
