/**
 * SOAP 1.2 envelopes as ONVIF devices write them: the namespace prefixes cameras use (tt, tds, trt,
 * tptz, tev, wsnt, tns1…), faults with ONVIF subcodes (`ter:*`), and request parsing with the
 * prefixes stripped (a request may use any prefix for a namespace).
 */
import { XMLParser } from 'fast-xml-parser';

export const NS = {
  env: 'http://www.w3.org/2003/05/soap-envelope',
  tt: 'http://www.onvif.org/ver10/schema',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tr2: 'http://www.onvif.org/ver20/media/wsdl',
  tptz: 'http://www.onvif.org/ver20/ptz/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
  wsa: 'http://www.w3.org/2005/08/addressing',
  tns1: 'http://www.onvif.org/ver10/topics',
  ter: 'http://www.onvif.org/ver10/error',
  wstop: 'http://docs.oasis-open.org/wsn/t-1',
} as const;

const declarations = Object.entries(NS)
  .map(([prefix, uri]) => `xmlns:${prefix}="${uri}"`)
  .join(' ');

export function envelope(body: string, header = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope ${declarations}>${header ? `<env:Header>${header}</env:Header>` : ''}<env:Body>${body}</env:Body></env:Envelope>`;
}

export function fault(code: 'Sender' | 'Receiver', subcodes: string[], reason: string): string {
  const sub = subcodes.reduceRight(
    (inner, value) => `<env:Subcode><env:Value>${value}</env:Value>${inner}</env:Subcode>`,
    '',
  );
  return envelope(
    `<env:Fault><env:Code><env:Value>env:${code}</env:Value>${sub}</env:Code><env:Reason><env:Text xml:lang="en">${escapeXml(reason)}</env:Text></env:Reason></env:Fault>`,
  );
}

const ENTITIES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ENTITIES[c] as string);
}

export interface SoapRequest {
  action: string;
  body: Record<string, unknown>;
  header: Record<string, unknown>;
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: true,
  htmlEntities: true,
});

/** The body's first element (the operation) and its content; undefined for anything else. */
export function parseRequest(xml: string): SoapRequest | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(xml, true) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const env = doc.Envelope as Record<string, unknown> | undefined;
  const body = env?.Body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return undefined;
  const action = Object.keys(body).find((k) => !k.startsWith('@'));
  if (!action) return undefined;
  const content = body[action];
  return {
    action,
    body: content && typeof content === 'object' ? (content as Record<string, unknown>) : {},
    header: (env?.Header as Record<string, unknown>) ?? {},
  };
}

/** The text of a parsed element (a plain string, or `#text` beside attributes). */
export function text(node: unknown): string | undefined {
  if (typeof node === 'string') return node.trim();
  if (node && typeof node === 'object' && '#text' in node)
    return String((node as { '#text': unknown })['#text']).trim();
  return undefined;
}

/** ISO 8601 durations as ONVIF uses them (PT5S, PT1M, PT0.5S, P1DT2H…), in milliseconds. */
export function durationMs(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(s.trim());
  if (!m) return undefined;
  const [, d = '0', h = '0', min = '0', sec = '0'] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(sec) * 1000;
}
