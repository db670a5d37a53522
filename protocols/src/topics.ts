/**
 * MQTT topic builders and parsers for the Qianliyan contract.
 *
 * Root: `qly/v1/{site}/{gateway}/…`. Topics are built only by the helpers below and parsed by one
 * anchored pattern per shape (never by splitting and counting segments), so a topic with an extra
 * level, an empty level or a wildcard character is rejected rather than misread.
 */

export const TOPIC_ROOT = 'qly/v1';

/** An id segment: letters, digits, `_` and `-`, 1–64 characters, starting with a letter or digit. */
export const ID_PATTERN = '[A-Za-z0-9][A-Za-z0-9_-]{0,63}';
const ID_RE = new RegExp(`^${ID_PATTERN}$`);

export type TopicKind =
  | 'state'
  | 'meta'
  | 'availability'
  | 'recordings'
  | 'telemetry'
  | 'event'
  | 'cmd'
  | 'cmdResult'
  | 'config'
  | 'configResult';

/**
 * The outbox lane a topic kind travels in. Control messages (state, descriptors, availability,
 * events, command results) are sent before bulk telemetry and are never dropped to make room for
 * it; each lane has its own `seq` space, so the hub's dedup window stays exact per lane although
 * the two lanes interleave on the wire.
 */
export type Lane = 'control' | 'bulk';
export const LANES: readonly Lane[] = ['control', 'bulk'];
export function laneOf(kind: TopicKind): Lane {
  return kind === 'telemetry' ? 'bulk' : 'control';
}

export interface ParsedTopic {
  kind: TopicKind;
  site: string;
  gateway: string;
  /** Present for the per-device kinds: meta, availability, recordings, telemetry, event. */
  device?: string;
}

const ID = `(${ID_PATTERN})`;
const ROOT = TOPIC_ROOT.replace('/', '\\/');

/** One anchored pattern per topic shape, the most frequent (telemetry) first. */
const SHAPES: ReadonlyArray<{ kind: TopicKind; re: RegExp }> = [
  { kind: 'telemetry', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/dev\\/${ID}\\/telemetry$`) },
  { kind: 'state', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/state$`) },
  { kind: 'meta', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/dev\\/${ID}\\/meta$`) },
  { kind: 'availability', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/dev\\/${ID}\\/availability$`) },
  { kind: 'event', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/dev\\/${ID}\\/event$`) },
  { kind: 'recordings', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/dev\\/${ID}\\/recordings$`) },
  { kind: 'cmd', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/cmd$`) },
  { kind: 'cmdResult', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/cmd\\/result$`) },
  { kind: 'config', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/config$`) },
  { kind: 'configResult', re: new RegExp(`^${ROOT}\\/${ID}\\/${ID}\\/config\\/result$`) },
];

/** Parses a concrete topic; returns null for anything that is not exactly one of the contract's shapes. */
export function parseTopic(topic: string): ParsedTopic | null {
  for (const { kind, re } of SHAPES) {
    const m = re.exec(topic);
    if (!m) continue;
    const [, site, gateway, device] = m as unknown as [string, string, string, string | undefined];
    return device === undefined ? { kind, site, gateway } : { kind, site, gateway, device };
  }
  return null;
}

export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

function assertIds(...ids: string[]): void {
  for (const id of ids) {
    if (!ID_RE.test(id)) throw new TypeError(`invalid topic id segment: ${JSON.stringify(id)}`);
  }
}

export const topics = {
  state(site: string, gateway: string): string {
    assertIds(site, gateway);
    return `${TOPIC_ROOT}/${site}/${gateway}/state`;
  },
  meta(site: string, gateway: string, device: string): string {
    assertIds(site, gateway, device);
    return `${TOPIC_ROOT}/${site}/${gateway}/dev/${device}/meta`;
  },
  availability(site: string, gateway: string, device: string): string {
    assertIds(site, gateway, device);
    return `${TOPIC_ROOT}/${site}/${gateway}/dev/${device}/availability`;
  },
  /** Retained: the time ranges of one camera's recording the gateway holds. */
  recordings(site: string, gateway: string, device: string): string {
    assertIds(site, gateway, device);
    return `${TOPIC_ROOT}/${site}/${gateway}/dev/${device}/recordings`;
  },
  telemetry(site: string, gateway: string, device: string): string {
    assertIds(site, gateway, device);
    return `${TOPIC_ROOT}/${site}/${gateway}/dev/${device}/telemetry`;
  },
  event(site: string, gateway: string, device: string): string {
    assertIds(site, gateway, device);
    return `${TOPIC_ROOT}/${site}/${gateway}/dev/${device}/event`;
  },
  cmd(site: string, gateway: string): string {
    assertIds(site, gateway);
    return `${TOPIC_ROOT}/${site}/${gateway}/cmd`;
  },
  cmdResult(site: string, gateway: string): string {
    assertIds(site, gateway);
    return `${TOPIC_ROOT}/${site}/${gateway}/cmd/result`;
  },
  /** Hub → edge, retained: the gateway's desired devices (the latest version; provisioning.ts). */
  config(site: string, gateway: string): string {
    assertIds(site, gateway);
    return `${TOPIC_ROOT}/${site}/${gateway}/config`;
  },
  /** Edge → hub: what the gateway did with a config version, device by device. */
  configResult(site: string, gateway: string): string {
    assertIds(site, gateway);
    return `${TOPIC_ROOT}/${site}/${gateway}/config/result`;
  },
} as const;

/** Subscription filters. MQTT 3.1.1 wildcards only; no `$share/` (the embedded broker has none). */
export const filters = {
  /** Everything under the root: the hub subscribes here so unknown topics can be counted too. */
  all: `${TOPIC_ROOT}/#`,
  /** What one gateway subscribes to: its own command topic. */
  gatewayCommands(site: string, gateway: string): string {
    return topics.cmd(site, gateway);
  },
  /** What one gateway subscribes to besides its commands: its desired config (retained). */
  gatewayConfig(site: string, gateway: string): string {
    return topics.config(site, gateway);
  },
  /** What one gateway may publish under (for broker ACLs). */
  gatewayPublish(site: string, gateway: string): string {
    assertIds(site, gateway);
    return `${TOPIC_ROOT}/${site}/${gateway}/#`;
  },
} as const;

/** Builds the key that names a device across the whole hub: `{gateway}.{device}`. */
export function deviceKey(gateway: string, device: string): string {
  return `${gateway}.${device}`;
}

const DEVICE_KEY_RE = new RegExp(`^(${ID_PATTERN})\\.(${ID_PATTERN})$`);
export function parseDeviceKey(key: string): { gateway: string; device: string } | null {
  const m = DEVICE_KEY_RE.exec(key);
  return m ? { gateway: m[1] as string, device: m[2] as string } : null;
}
