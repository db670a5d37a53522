/**
 * Camera → message converters: ONVIF SOAP answers (as real cameras write them: any prefixes, CRLF,
 * padding, Media1 or Media2 shapes) into the few facts the adapter needs, and PullPoint
 * notifications into device events. The `onvif` package carries the requests (authentication,
 * clock offset, service addresses); these read its raw XML so every vendor's quirk is handled in one
 * place and tested against recorded answers (../shared/fixtures/onvif-*).
 *
 * Each reader returns nothing (or []) for what it cannot find, and throws OnvifFault for a SOAP
 * fault; malformed XML throws BadResponse. Nothing here trusts sizes or counts from the camera.
 */
import { XMLParser } from 'fast-xml-parser';

const REPEATED = new Set([
  'Profiles',
  'Preset',
  'NotificationMessage',
  'SimpleItem',
  'Subcode',
  'Service',
  'PTZNode',
  'AbsolutePanTiltPositionSpace',
  'AbsoluteZoomPositionSpace',
]);

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  htmlEntities: true,
  isArray: (name) => REPEATED.has(name),
});

export class BadResponse extends Error {}

export class OnvifFault extends Error {
  constructor(
    readonly code: string,
    readonly subcodes: string[],
    readonly reason: string,
  ) {
    super(`ONVIF fault ${[code, ...subcodes].join('/')}: ${reason}`);
  }

  /**
   * A refusal of the credentials: ONVIF's ter:NotAuthorized, WS-Security's FailedAuthentication /
   * InvalidSecurityToken (OASIS WSS 1.1 §12), or a fault that only says so in words. An HTTP 401
   * around any fault is one too (the client knows the status, `classify`).
   */
  get notAuthorized(): boolean {
    return (
      this.subcodes.some((s) =>
        /NotAuthori[sz]ed|FailedAuthentication|InvalidSecurityToken|Unauthori[sz]ed/i.test(s),
      ) ||
      /\b401\b|not authori[sz]ed|unauthori[sz]ed|authentication failed|invalid (user ?name|password|credentials)/i.test(
        this.reason,
      )
    );
  }
}

/** The name of the element an answer's Body holds (`GetProfilesResponse`), or undefined for an empty Body. */
export function answerName(xml: string): string | undefined {
  const body = soapBody(xml);
  return Object.keys(body).find((k) => !k.startsWith('@') && k !== '#text');
}

type Node = Record<string, unknown>;

/** The SOAP Body of an answer; throws for malformed XML, a non-SOAP page or a fault. */
export function soapBody(xml: string): Node {
  if (xml.length > 8 * 1024 * 1024) throw new BadResponse('answer larger than 8 MiB');
  let doc: Node;
  try {
    const valid = parser.parse(xml, true) as Node;
    doc = valid;
  } catch (err) {
    throw new BadResponse(`not well-formed XML: ${(err as Error).message.split('\n')[0]}`);
  }
  const body = (doc.Envelope as Node | undefined)?.Body as Node | undefined;
  if (!body || typeof body !== 'object') {
    if (/<html[\s>]/i.test(xml) && /401|unauthori[sz]ed/i.test(xml))
      throw new OnvifFault('Sender', ['ter:NotAuthorized'], 'HTTP 401 (HTML page)');
    throw new BadResponse('not a SOAP envelope');
  }
  const fault = body.Fault as Node | undefined;
  if (fault) throw faultOf(fault);
  return body;
}

function faultOf(fault: Node): OnvifFault {
  // SOAP 1.2 (Code/Value, Subcode/Value nested) and SOAP 1.1 (faultcode/faultstring).
  const code = fault.Code as Node | undefined;
  const subcodes: string[] = [];
  let sub = (code?.Subcode as Node[] | undefined)?.[0];
  while (sub && subcodes.length < 8) {
    const value = str(sub.Value);
    if (value) subcodes.push(value);
    sub = (sub.Subcode as Node[] | undefined)?.[0];
  }
  const reasonNode = (fault.Reason as Node | undefined)?.Text;
  const reason = str(Array.isArray(reasonNode) ? reasonNode[0] : reasonNode) || str(fault.faultstring) || '';
  return new OnvifFault(str(code?.Value) || str(fault.faultcode) || 'Fault', subcodes, reason.slice(0, 512));
}

/** The named response element (an empty one is `{}`), or undefined when the body has none of them. */
function response(body: Node, ...names: string[]): Node | undefined {
  for (const name of names) {
    if (!(name in body)) continue;
    const v = body[name];
    return v && typeof v === 'object' ? (v as Node) : {};
  }
  return undefined;
}

export function str(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object' && '#text' in v) return String((v as Node)['#text']).trim();
  return '';
}

const num = (v: unknown): number | undefined => {
  const s = str(v);
  if (s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
};

const attr = (node: unknown, name: string): string | undefined => {
  const v = node && typeof node === 'object' ? (node as Node)[`@${name}`] : undefined;
  return typeof v === 'string' ? v : undefined;
};

const child = (node: unknown, ...path: string[]): unknown => {
  let cur = node;
  for (const key of path) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Node)[key];
  }
  return cur;
};

export interface DeviceInfo {
  manufacturer: string;
  model: string;
  firmware: string;
  serial: string;
  hardwareId: string;
}

export function parseDeviceInformation(xml: string): DeviceInfo {
  const r = response(soapBody(xml), 'GetDeviceInformationResponse');
  if (!r) throw new BadResponse('no GetDeviceInformationResponse');
  return {
    manufacturer: str(r.Manufacturer),
    model: str(r.Model),
    firmware: str(r.FirmwareVersion),
    serial: str(r.SerialNumber),
    hardwareId: str(r.HardwareId),
  };
}

/** The camera's clock (UTC), from GetSystemDateAndTime. */
export function parseSystemDateAndTime(xml: string): Date | undefined {
  const r = response(soapBody(xml), 'GetSystemDateAndTimeResponse');
  const utc = child(r, 'SystemDateAndTime', 'UTCDateTime') as Node | undefined;
  if (!utc) return undefined;
  const d = utc.Date as Node | undefined;
  const t = utc.Time as Node | undefined;
  const parts = [num(d?.Year), num(d?.Month), num(d?.Day), num(t?.Hour), num(t?.Minute), num(t?.Second)];
  if (parts.some((p) => p === undefined)) return undefined;
  const [y, mo, day, h, mi, s] = parts as number[];
  const date = new Date(Date.UTC(y as number, (mo as number) - 1, day, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export interface MediaProfile {
  token: string;
  name: string;
  encoding?: string;
  width?: number;
  height?: number;
  fps?: number;
  ptz: boolean;
  /** The profile's PTZ configuration: its token, node, and the spaces positions default to. */
  ptzConfig?: PtzConfigRef;
}

export interface PtzConfigRef {
  token?: string;
  node?: string;
  panTiltSpace?: string;
  zoomSpace?: string;
}

function ptzConfigOf(node: Node | undefined): PtzConfigRef | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const token = attr(node, 'token');
  const nodeToken = str(node.NodeToken);
  // The schema spells it "DefaultAbsolutePantTiltPositionSpace"; some cameras correct the typo.
  const panTilt =
    str(node.DefaultAbsolutePantTiltPositionSpace) || str(node.DefaultAbsolutePanTiltPositionSpace);
  const zoom = str(node.DefaultAbsoluteZoomPositionSpace);
  return {
    ...(token ? { token } : {}),
    ...(nodeToken ? { node: nodeToken } : {}),
    ...(panTilt ? { panTiltSpace: panTilt } : {}),
    ...(zoom ? { zoomSpace: zoom } : {}),
  };
}

/** Media1 (`VideoEncoderConfiguration`) and Media2 (`Configurations/VideoEncoder`) profiles. */
export function parseProfiles(xml: string): MediaProfile[] {
  const r = response(soapBody(xml), 'GetProfilesResponse', 'GetProfileResponse');
  if (!r) throw new BadResponse('no GetProfilesResponse');
  const list = (r.Profiles ?? (r.Profile ? [r.Profile] : [])) as Node[];
  const out: MediaProfile[] = [];
  for (const p of list.slice(0, 64)) {
    const token = attr(p, 'token');
    if (!token) continue;
    const configs = p.Configurations as Node | undefined;
    const enc = (p.VideoEncoderConfiguration ?? configs?.VideoEncoder) as Node | undefined;
    const encodingAttr = attr(enc, 'Encoding');
    const encoding = str(enc?.Encoding) || encodingAttr || undefined;
    const width = num(child(enc, 'Resolution', 'Width'));
    const height = num(child(enc, 'Resolution', 'Height'));
    const fps =
      num(child(enc, 'RateControl', 'FrameRateLimit')) ??
      num(attr(child(enc, 'RateControl'), 'FrameRateLimit'));
    const ptzConfig = ptzConfigOf((p.PTZConfiguration ?? configs?.PTZ) as Node | undefined);
    out.push({
      token,
      name: str(p.Name) || token,
      ...(encoding ? { encoding } : {}),
      ...(width ? { width } : {}),
      ...(height ? { height } : {}),
      ...(fps ? { fps } : {}),
      ptz: !!(p.PTZConfiguration ?? configs?.PTZ),
      ...(ptzConfig ? { ptzConfig } : {}),
    });
  }
  return out;
}

/**
 * Main and sub stream: among the H.264 profiles (the browser path can play them without
 * transcoding) the largest is main and the smallest sub; H.265-only cameras fall back to any codec.
 * Explicit tokens from the config win.
 */
export function pickStreams(
  profiles: MediaProfile[],
  wanted: { main?: string; sub?: string } = {},
): { main?: MediaProfile; sub?: MediaProfile } {
  const byToken = (t: string | undefined) => (t ? profiles.find((p) => p.token === t) : undefined);
  const video = profiles.filter((p) => p.encoding && p.encoding.toUpperCase() !== 'NONE' && p.width);
  const h264 = video.filter((p) => p.encoding?.toUpperCase() === 'H264');
  const pool = (h264.length ? h264 : video.length ? video : profiles).slice();
  const area = (p: MediaProfile) => (p.width ?? 0) * (p.height ?? 0);
  pool.sort((a, b) => area(b) - area(a));
  const main = byToken(wanted.main) ?? pool[0];
  const sub = byToken(wanted.sub) ?? (pool.length > 1 ? pool[pool.length - 1] : main);
  return { ...(main ? { main } : {}), ...(sub ? { sub } : {}) };
}

/** GetStreamUri / GetSnapshotUri, Media1 (`MediaUri/Uri`) or Media2 (`Uri`). */
export function parseMediaUri(xml: string): string {
  const r = response(soapBody(xml), 'GetStreamUriResponse', 'GetSnapshotUriResponse');
  const uri = str(child(r, 'MediaUri', 'Uri')) || str(r?.Uri);
  if (!uri) throw new BadResponse('no URI in the answer');
  return uri;
}

export interface PresetInfo {
  token: string;
  name: string;
}

export function parsePresets(xml: string, limit = 1000): PresetInfo[] {
  const r = response(soapBody(xml), 'GetPresetsResponse');
  if (!r) throw new BadResponse('no GetPresetsResponse');
  const list = (r.Preset ?? []) as Node[];
  const out: PresetInfo[] = [];
  for (const p of list) {
    const token = attr(p, 'token');
    if (token === undefined || out.length >= limit) continue;
    out.push({ token, name: str(p.Name) || token });
  }
  return out;
}

export interface PtzStatus {
  /**
   * The position as the camera reports it, in the space it names (`panTiltSpace`, `zoomSpace`; the
   * profile's default when it names none): ONVIF's generic space is pan and tilt -1…1, zoom 0…1,
   * but cameras report their own units too (ptz-position.ts normalises). Absent when the camera
   * does not report a position.
   */
  pan?: number;
  tilt?: number;
  zoom?: number;
  panTiltSpace?: string;
  zoomSpace?: string;
  moving: { panTilt?: boolean; zoom?: boolean };
}

export function parsePtzStatus(xml: string): PtzStatus {
  const status = child(response(soapBody(xml), 'GetStatusResponse'), 'PTZStatus') as Node | undefined;
  if (!status) throw new BadResponse('no PTZStatus');
  const panTilt = child(status, 'Position', 'PanTilt');
  const zoom = child(status, 'Position', 'Zoom');
  const pan = num(attr(panTilt, 'x'));
  const tilt = num(attr(panTilt, 'y'));
  const z = num(attr(zoom, 'x'));
  const moveStatus = status.MoveStatus as Node | undefined;
  const moving = (v: unknown) => (str(v) ? str(v).toUpperCase() === 'MOVING' : undefined);
  const mpt = moving(moveStatus?.PanTilt);
  const mz = moving(moveStatus?.Zoom);
  const panTiltSpace = attr(panTilt, 'space');
  const zoomSpace = attr(zoom, 'space');
  return {
    ...(pan !== undefined ? { pan } : {}),
    ...(tilt !== undefined ? { tilt } : {}),
    ...(z !== undefined ? { zoom: z } : {}),
    ...(panTiltSpace ? { panTiltSpace } : {}),
    ...(zoomSpace ? { zoomSpace } : {}),
    moving: { ...(mpt !== undefined ? { panTilt: mpt } : {}), ...(mz !== undefined ? { zoom: mz } : {}) },
  };
}

/** A position space a camera advertises: its URI and the range of each axis. */
export interface PositionSpace {
  uri: string;
  x: [number, number];
  y?: [number, number];
}

export interface PtzSpaces {
  panTilt: PositionSpace[];
  zoom: PositionSpace[];
}

const range = (node: unknown): [number, number] | undefined => {
  const min = num(child(node, 'Min'));
  const max = num(child(node, 'Max'));
  return min !== undefined && max !== undefined && max > min ? [min, max] : undefined;
};

/** Every element named `name` under `node`, depth-first, bounded. */
function findAll(node: unknown, name: string, out: unknown[] = [], depth = 0): unknown[] {
  if (!node || typeof node !== 'object' || depth > 12 || out.length >= 32) return out;
  for (const [key, value] of Object.entries(node as Node)) {
    if (key.startsWith('@')) continue;
    if (key === name) out.push(...(Array.isArray(value) ? value : [value]));
    else for (const v of Array.isArray(value) ? value : [value]) findAll(v, name, out, depth + 1);
  }
  return out;
}

/**
 * The absolute position spaces a camera advertises, from GetNodes / GetNode (SupportedPTZSpaces)
 * or GetConfigurationOptions (Spaces): the ranges its positions are reported in.
 */
export function parsePtzSpaces(xml: string): PtzSpaces {
  const body = soapBody(xml);
  const spaces = (name: string, withY: boolean): PositionSpace[] =>
    findAll(body, name).flatMap((n) => {
      const uri = str(child(n, 'URI'));
      const x = range(child(n, 'XRange'));
      const y = withY ? range(child(n, 'YRange')) : undefined;
      if (!uri || !x || (withY && !y)) return [];
      return [{ uri, x, ...(y ? { y } : {}) }];
    });
  return {
    panTilt: spaces('AbsolutePanTiltPositionSpace', true),
    zoom: spaces('AbsoluteZoomPositionSpace', false),
  };
}

export interface SimpleItem {
  name: string;
  value: string;
}

export interface CameraNotification {
  topic: string;
  utc?: string;
  operation?: string;
  source: SimpleItem[];
  data: SimpleItem[];
}

const items = (node: unknown): SimpleItem[] =>
  (((node as Node | undefined)?.SimpleItem as Node[] | undefined) ?? [])
    .slice(0, 32)
    .map((i) => ({ name: attr(i, 'Name') ?? '', value: attr(i, 'Value') ?? '' }))
    .filter((i) => i.name);

/** Every NotificationMessage of a PullMessagesResponse (or a Notify). */
export function parseNotifications(xml: string, limit = 100): CameraNotification[] {
  const r = response(soapBody(xml), 'PullMessagesResponse', 'Notify');
  if (!r) throw new BadResponse('no PullMessagesResponse');
  const out: CameraNotification[] = [];
  for (const n of ((r.NotificationMessage ?? []) as Node[]).slice(0, limit)) {
    const topic = str(n.Topic);
    const message = child(n, 'Message', 'Message') as Node | undefined;
    if (!topic || !message) continue;
    const utc = attr(message, 'UtcTime');
    const operation = attr(message, 'PropertyOperation');
    out.push({
      topic: topic.slice(0, 256),
      ...(utc ? { utc } : {}),
      ...(operation ? { operation } : {}),
      source: items(message.Source),
      data: items(message.Data),
    });
  }
  return out;
}

/** The camera event as the hub sees it: a device event type, severity and data. */
export interface CameraEvent {
  type: string;
  severity: 'info' | 'warning' | 'critical';
  state?: 'start' | 'end';
  source?: string;
  ts: number;
  data: Record<string, unknown>;
}

interface TopicRule {
  test: RegExp;
  type: string;
  severity: CameraEvent['severity'];
  /** Data items holding the on/off state, for a property event; none for a one-shot event. */
  stateItems?: string[];
}

/** ONVIF topics (Core/Analytics spec and common vendor spellings) to event types. */
const TOPIC_RULES: TopicRule[] = [
  {
    test: /(^|\/)(MotionAlarm|CellMotionDetector\/Motion|MotionDetector\/Motion|Motion)$/i,
    type: 'motion',
    severity: 'warning',
    stateItems: ['State', 'IsMotion'],
  },
  {
    test: /GlobalSceneChange|Tamper|ImageTooBlurry|ImageTooDark|ImageTooBright/i,
    type: 'tamper',
    severity: 'critical',
    stateItems: ['State', 'IsTamper', 'IsGlobalSceneChange'],
  },
  { test: /LineDetector\/Crossed|LineCross/i, type: 'line_crossing', severity: 'warning' },
  {
    test: /FieldDetector\/ObjectsInside|Intrusion/i,
    type: 'intrusion',
    severity: 'warning',
    stateItems: ['IsInside', 'State'],
  },
];

const SOURCE_ITEMS = ['Source', 'VideoSourceToken', 'VideoSourceConfigurationToken', 'InputToken'];

/** The topic without namespace prefixes: `tns1:RuleEngine/tnsaxis:X` → `RuleEngine/X`. */
export function plainTopic(topic: string): string {
  return topic
    .split('/')
    .map((s) => s.replace(/^[A-Za-z0-9_-]+:/, ''))
    .join('/');
}

const truthy = (v: string) => /^(true|1|on|active)$/i.test(v);

/**
 * Turns notifications into events: a property event only when its state changes (so the two topics
 * some cameras fire for one motion, or a repeated "Initialized", make one event), a one-shot event
 * every time; unknown topics become `onvif.<topic>` and are limited to one per topic per minute.
 */
export class EventNormalizer {
  private readonly state = new Map<string, boolean>();
  private readonly lastUnknown = new Map<string, number>();

  normalize(n: CameraNotification, now = Date.now()): CameraEvent | undefined {
    const topic = plainTopic(n.topic);
    const ts = n.utc && Number.isFinite(Date.parse(n.utc)) ? Date.parse(n.utc) : now;
    const source = n.source.find((i) => SOURCE_ITEMS.includes(i.name))?.value;
    const data: Record<string, unknown> = { topic, ...(source ? { source } : {}) };
    // The rule or channel that fired (source items) and what it says (data items).
    for (const item of [...n.source, ...n.data].slice(0, 12))
      if (!SOURCE_ITEMS.includes(item.name)) data[item.name.slice(0, 64)] = item.value.slice(0, 256);
    const rule = TOPIC_RULES.find((r) => r.test.test(topic));
    if (!rule) {
      const slug =
        topic
          .split('/')
          .pop()
          ?.toLowerCase()
          .replace(/[^a-z0-9_.-]/g, '_')
          .slice(0, 48) || 'event';
      const key = `onvif.${slug}`;
      if (now - (this.lastUnknown.get(key) ?? -Infinity) < 60_000) return undefined;
      if (this.lastUnknown.size > 256) this.lastUnknown.clear();
      this.lastUnknown.set(key, now);
      return { type: key, severity: 'info', ts, data };
    }
    if (!rule.stateItems)
      return { type: rule.type, severity: rule.severity, ts, ...(source ? { source } : {}), data };
    const item = n.data.find((i) => rule.stateItems?.includes(i.name));
    if (!item) return undefined;
    const active = truthy(item.value);
    const key = `${rule.type}|${source ?? ''}`;
    const before = this.state.get(key);
    this.state.set(key, active);
    // The state a new subscription starts with is not news unless something is active.
    if (before === active || (before === undefined && !active)) return undefined;
    const state = active ? 'start' : 'end';
    return {
      type: rule.type,
      severity: active ? rule.severity : 'info',
      state,
      ts,
      ...(source ? { source } : {}),
      data: { ...data, state },
    };
  }
}
