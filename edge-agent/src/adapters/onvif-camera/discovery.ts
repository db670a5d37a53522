/**
 * WS-Discovery (ONVIF Core §7, WS-Discovery 2005/04) from the gateway: a Probe for
 * NetworkVideoTransmitter sent to the multicast group 239.255.255.250:3702 on the village LAN and
 * to any unicast targets (a camera on another subnet, or a test), and the ProbeMatches collected
 * for a while. Discovery does not cross routed networks, so the gateway is the hub's discovery
 * proxy: the hub asks it (`camera.discover`) and gets this list.
 *
 * Replies are parsed defensively: bounded in size and count, de-duplicated by endpoint address,
 * XAddrs split on whitespace (cameras pad them), scopes decoded into hardware/name/type.
 */
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { XMLParser } from 'fast-xml-parser';

export const DISCOVERY_GROUP = '239.255.255.250';
export const DISCOVERY_PORT = 3702;
const MAX_DATAGRAM = 16 * 1024;
const MAX_FOUND = 256;

export interface DiscoveredCamera {
  /** The device's endpoint reference (urn:uuid:…), stable across address changes. */
  endpoint: string;
  xaddrs: string[];
  types: string[];
  scopes: string[];
  hardware?: string;
  name?: string;
  ptz: boolean;
  /** Who answered (address:port). */
  from?: string;
}

export function probeMessage(messageId = `urn:uuid:${randomUUID()}`): string {
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header><a:MessageID>${messageId}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>`;
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  isArray: (name) => name === 'ProbeMatch',
});

const str = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : v && typeof v === 'object' && '#text' in v
      ? String((v as { '#text': unknown })['#text'])
      : '';
const words = (v: unknown) => str(v).split(/\s+/).filter(Boolean);

/** Every ProbeMatch in one reply; [] for anything that is not a ProbeMatches envelope. */
export function parseProbeMatches(xml: string): DiscoveredCamera[] {
  let doc: Record<string, any>;
  try {
    doc = parser.parse(xml, true);
  } catch {
    return [];
  }
  const matches = doc?.Envelope?.Body?.ProbeMatches?.ProbeMatch;
  if (!Array.isArray(matches)) return [];
  const out: DiscoveredCamera[] = [];
  for (const m of matches) {
    const endpoint = str(m?.EndpointReference?.Address).trim();
    const xaddrs = words(m?.XAddrs).filter((x) => /^https?:\/\//.test(x));
    if (!endpoint || xaddrs.length === 0) continue;
    const scopes = words(m?.Scopes);
    const scope = (kind: string) => {
      const prefix = `onvif://www.onvif.org/${kind}/`;
      const found = scopes.find((s) => s.startsWith(prefix));
      if (!found) return undefined;
      try {
        return decodeURIComponent(found.slice(prefix.length));
      } catch {
        return found.slice(prefix.length);
      }
    };
    const hardware = scope('hardware');
    const name = scope('name');
    out.push({
      endpoint,
      xaddrs,
      types: words(m?.Types),
      scopes,
      ...(hardware ? { hardware } : {}),
      ...(name ? { name } : {}),
      ptz: scopes.includes('onvif://www.onvif.org/type/ptz'),
    });
  }
  return out;
}

export interface ProbeOptions {
  timeoutMs: number;
  /** Extra unicast destinations (host:port). */
  targets?: string[];
  /** Send to the multicast group too (the LAN case). */
  multicast?: boolean;
}

/** Probes and collects the cameras that answer within `timeoutMs`, de-duplicated by endpoint. */
export async function discover(options: ProbeOptions): Promise<DiscoveredCamera[]> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const found = new Map<string, DiscoveredCamera>();
  const messageId = `urn:uuid:${randomUUID()}`;
  const message = Buffer.from(probeMessage(messageId));
  socket.on('message', (msg, rinfo) => {
    if (msg.length > MAX_DATAGRAM || found.size >= MAX_FOUND) return;
    for (const cam of parseProbeMatches(msg.toString('utf8'))) {
      const known = found.get(cam.endpoint);
      if (known) known.xaddrs = [...new Set([...known.xaddrs, ...cam.xaddrs])];
      else found.set(cam.endpoint, { ...cam, from: `${rinfo.address}:${rinfo.port}` });
    }
  });
  socket.on('error', () => {
    /* an unreachable target; the others still answer */
  });
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  const send = (host: string, port: number) =>
    new Promise<void>((resolve) => socket.send(message, port, host, () => resolve()));
  try {
    if (options.multicast !== false) await send(DISCOVERY_GROUP, DISCOVERY_PORT);
    for (const target of options.targets ?? []) {
      const m = /^(.+):(\d{1,5})$/.exec(target);
      if (m) await send(m[1] as string, Number(m[2]));
    }
    await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
  } finally {
    socket.close();
  }
  return [...found.values()];
}

/** The ProbeMatches a device sends back for a probe (the simulator's side of the exchange). */
export function probeMatchesMessage(
  relatesTo: string,
  device: { endpoint: string; scopes: string[]; xaddrs: string[] },
): string {
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Header><a:MessageID>urn:uuid:${randomUUID()}</a:MessageID><a:RelatesTo>${relatesTo}</a:RelatesTo><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>${device.endpoint}</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>${device.scopes.join(' ')}</d:Scopes><d:XAddrs>${device.xaddrs.join(' ')}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`;
}

/** The MessageID of a Probe, or undefined if the datagram is not a Probe. */
export function parseProbe(xml: string): string | undefined {
  try {
    const doc = parser.parse(xml, true) as Record<string, any>;
    if (!doc?.Envelope?.Body || !('Probe' in doc.Envelope.Body)) return undefined;
    return str(doc.Envelope.Header?.MessageID).trim() || undefined;
  } catch {
    return undefined;
  }
}
