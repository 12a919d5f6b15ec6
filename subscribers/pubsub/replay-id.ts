/**
 * Replay IDs on the Pub/Sub API are opaque bytes. They travel through the pipeline as base64
 * text (RawEvent.replayId, the stored checkpoint) and become bytes again only when a
 * subscription is opened: never a JS number, so no width or precision is ever assumed.
 */

/** The text form of replay ID bytes: standard base64. */
export function replayIdText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^\d{1,20}$/;

/** What a stored checkpoint means to a Pub/Sub subscription. */
export type StoredReplay =
  | { kind: 'bytes'; bytes: Buffer }
  /** A CometD checkpoint (decimal) left by the other transport; see `replayIdBytes`. */
  | { kind: 'cometd'; bytes: Buffer; decimal: string }
  | { kind: 'invalid'; reason: string };

/**
 * Reads a stored checkpoint. Base64 is what this transport writes. A decimal number is what
 * the CometD transport wrote for the same channel. The Pub/Sub bytes are read as an unsigned
 * 64-bit big-endian integer by the public Node client (salesforce-pubsub-api-client), whose
 * numbers are the CometD replay IDs; so a decimal is written in that layout to resume where
 * the other transport stopped. This changes notation only; no ID is computed from another.
 * If the org refuses it, the invalid-replay fallback applies. Anything else is reported.
 */
export function parseStoredReplay(text: string): StoredReplay {
  // A decimal has no '=' padding and an 8-byte replay ID's base64 always has one, so the two
  // notations cannot be confused for the IDs Salesforce issues.
  if (DECIMAL.test(text)) {
    const value = BigInt(text);
    if (value > 0xffff_ffff_ffff_ffffn) return { kind: 'invalid', reason: `decimal replay ID ${text} does not fit in 64 bits` };
    return { kind: 'cometd', bytes: replayIdBytesOf(value), decimal: text };
  }
  if (text === '' || !BASE64.test(text)) return { kind: 'invalid', reason: `${JSON.stringify(text)} is neither base64 nor a decimal replay ID` };
  return { kind: 'bytes', bytes: Buffer.from(text, 'base64') };
}

/** An unsigned 64-bit big-endian encoding, the layout of Salesforce's replay ID bytes. */
export function replayIdBytesOf(value: bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(value);
  return buf;
}
