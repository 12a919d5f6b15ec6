/**
 * Reads a data extension's fields, for `check`. Marketing Cloud documents one way to do it:
 * a SOAP `Retrieve` of `DataExtensionField` filtered on `DataExtension.CustomerKey` (REST has
 * rows, not field definitions). The token from the REST client's manager is sent in the
 * `fueloauth` header element, to the `soap_instance_url` of the same token answer, which the
 * token manager only keeps when it is a Marketing Cloud host.
 */
import { request } from 'undici';
import { Code, TransientError } from '../../core/errors.ts';
import type { McRestClient } from './http.ts';

/** One field of a data extension, as `check` compares it with a route. */
export interface DeFieldInfo {
  name: string;
  type: string;
  isPrimaryKey: boolean;
  isRequired: boolean;
  maxLength: number | undefined;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const unxml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The SOAP endpoint of a `soap_instance_url` (`https://….soap.marketingcloudapis.com/` → `…/Service.asmx`). */
export function soapEndpoint(base: string): string {
  return base.endsWith('Service.asmx') ? base : `${base.replace(/\/+$/, '')}/Service.asmx`;
}

/** The retrieve envelope. */
export function retrieveFieldsEnvelope(token: string, key: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><fueloauth xmlns="http://exacttarget.com">${xml(token)}</fueloauth></s:Header>
<s:Body><RetrieveRequestMsg xmlns="http://exacttarget.com/wsdl/partnerAPI"><RetrieveRequest><ObjectType>DataExtensionField</ObjectType>
<Properties>Name</Properties><Properties>FieldType</Properties><Properties>IsPrimaryKey</Properties><Properties>IsRequired</Properties><Properties>MaxLength</Properties>
<Filter xsi:type="SimpleFilterPart" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Property>DataExtension.CustomerKey</Property><SimpleOperator>equals</SimpleOperator><Value>${xml(key)}</Value></Filter>
</RetrieveRequest></RetrieveRequestMsg></s:Body></s:Envelope>`;
}

/** Parses the Results of a RetrieveResponseMsg. */
export function parseFields(body: string): DeFieldInfo[] {
  const out: DeFieldInfo[] = [];
  for (const m of body.matchAll(/<Results[^>]*>([\s\S]*?)<\/Results>/g)) {
    const tag = (name: string) => {
      const t = new RegExp(`<${name}>([^<]*)</${name}>`).exec(m[1]!)?.[1];
      return t === undefined ? undefined : unxml(t);
    };
    const name = tag('Name');
    if (name === undefined) continue;
    const maxLength = Number(tag('MaxLength'));
    out.push({
      name,
      type: tag('FieldType') ?? 'Text',
      isPrimaryKey: tag('IsPrimaryKey') === 'true',
      isRequired: tag('IsRequired') === 'true',
      maxLength: Number.isFinite(maxLength) && maxLength > 0 ? maxLength : undefined,
    });
  }
  return out;
}

/** The fields of data extension `key` (empty when it does not exist or is not visible). */
export async function readDataExtensionFields(client: McRestClient, key: string, timeoutMs = 30_000): Promise<DeFieldInfo[]> {
  const token = await client.tokens.get();
  if (token.soapBaseUrl === undefined) {
    throw new TransientError(
      Code.MC_UNEXPECTED,
      'the token answer named no Marketing Cloud soap_instance_url, so data extension fields cannot be read',
    );
  }
  const res = await request(soapEndpoint(token.soapBaseUrl), {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: 'Retrieve' },
    body: retrieveFieldsEnvelope(token.accessToken, key),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) {
    const reason = /<faultstring>([^<]*)<\/faultstring>/.exec(text)?.[1] ?? `HTTP ${res.statusCode}`;
    throw new TransientError(Code.MC_UNEXPECTED, `the SOAP retrieve of data extension ${key}'s fields failed: ${unxml(reason).slice(0, 200)}`);
  }
  return parseFields(text);
}
