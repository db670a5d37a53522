/**
 * The alarm centre's contract: alarm states and sources, the alarm view and its timeline, device
 * health alarm types, rules on readings, notification subscriptions and deliveries, and the
 * availability report. The hub serves these over REST (`/api/alarms…`, `/api/alarm-rules…`,
 * `/api/notifications/…`, `/api/reports/availability`) and the live topic `alarm`
 * (live-topics.ts); protocols/README.md describes the routes.
 */
import { type Static, Type } from '@sinclair/typebox';
import { DeviceKind, Id, Severity } from './schemas.ts';

/**
 * An alarm's life (after ISA-18.2): `active` until someone acknowledges it (`acknowledged`) or its
 * cause goes away (`cleared_unacknowledged`: it still wants an officer's acknowledgement, so a
 * blip nobody saw is not lost); acknowledged and cleared, it is `cleared`. A device event has no
 * "back to normal", so an event alarm goes from `acknowledged` straight to `cleared`.
 */
export const ALARM_STATES = ['active', 'acknowledged', 'cleared_unacknowledged', 'cleared'] as const;
export type AlarmState = (typeof ALARM_STATES)[number];
export const AlarmState = Type.Union(ALARM_STATES.map((s) => Type.Literal(s)));

/** Where an alarm came from: a device event, the hub's view of a device's health, a rule on readings. */
export const ALARM_SOURCES = ['event', 'health', 'rule'] as const;
export type AlarmSource = (typeof ALARM_SOURCES)[number];
export const AlarmSource = Type.Union(ALARM_SOURCES.map((s) => Type.Literal(s)));

/** The severities an alarm can have, least first (an `info` event never makes one). */
export const ALARM_SEVERITIES = ['warning', 'alarm', 'critical'] as const;
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];
export const AlarmSeverity = Type.Union(ALARM_SEVERITIES.map((s) => Type.Literal(s)));

/** Orders severities: `info` < `warning` < `alarm` < `critical`. */
export function severityRank(s: string): number {
  return ['info', 'warning', 'alarm', 'critical'].indexOf(s);
}

/**
 * Health alarm types, raised and cleared by the hub from device availability and gateway sessions,
 * with the words a duty room uses. The reason the gateway gave is in the alarm's `reason`.
 */
export const HEALTH_ALARM_TYPES = {
  'health.device_offline': { zh: '设备离线', en: 'Device offline' },
  'health.video_lost': { zh: '视频丢失', en: 'Video lost' },
  'health.comm_lost': { zh: '通信中断', en: 'Communication lost' },
  'health.credentials_refused': { zh: '认证失败', en: 'Credentials refused' },
  'health.link_lost': { zh: '链路中断', en: 'Link lost' },
  'health.gateway_offline': { zh: '网关离线', en: 'Gateway offline' },
} as const;
export type HealthAlarmType = keyof typeof HEALTH_ALARM_TYPES;

/**
 * Which health alarm a gateway's availability reason makes: by its code (the text before the first
 * colon: `ONVIF_UNAUTHORIZED: …`, `MODBUS_TIMEOUT: …`, `VIDEO_LOST: …`) or, for adapters whose
 * reasons are sentences, by what it says.
 */
export function healthTypeOfReason(kind: string, reason: string): HealthAlarmType {
  const code = /^([A-Z][A-Z0-9_]+):/.exec(reason)?.[1] ?? '';
  if (code === 'VIDEO_LOST' || /video lost|no frames/i.test(reason)) return 'health.video_lost';
  if (code === 'ONVIF_UNAUTHORIZED' || /credential|unauthori[sz]ed|401/i.test(reason))
    return 'health.credentials_refused';
  // A drone's link is judged on all its traffic, heartbeats included: its silence is a lost link.
  if (kind === 'drone' || /link lost|link_lost/i.test(reason)) return 'health.link_lost';
  if (code.startsWith('MODBUS_') || code === 'SPEAKER_SILENT' || /heartbeat|control api/i.test(reason))
    return 'health.comm_lost';
  return 'health.device_offline';
}

export const AlarmView = Type.Object({
  id: Type.Integer(),
  /** When it first fired, and when it last repeated or flapped back (ms epoch). */
  ts: Type.Integer(),
  lastTs: Type.Integer(),
  /** Events counted into it; for a health or rule alarm, how many times the condition came back. */
  count: Type.Integer(),
  site: Id,
  /** `{gateway}.{device}`, or the gateway id for a gateway's own health alarm. */
  device: Type.String(),
  type: Type.String(),
  severity: Severity,
  source: AlarmSource,
  state: AlarmState,
  /** The site whose officers answer for it: its village, then a town or the county after escalation. */
  owner: Type.String(),
  /** How many levels it went up (0: still the village's). */
  escalations: Type.Integer(),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /** A health alarm's reason as the gateway gave it (the latest); a rule alarm's rule name. */
  reason: Type.Optional(Type.String()),
  /** The rule on readings that raised it. */
  rule: Type.Optional(Type.Integer()),
  ackedBy: Type.Union([Type.String(), Type.Null()]),
  ackedAt: Type.Union([Type.Integer(), Type.Null()]),
  ackNote: Type.Union([Type.String(), Type.Null()]),
  /** When its cause went away (health, rule), and how long the outage or condition lasted. */
  clearedAt: Type.Union([Type.Integer(), Type.Null()]),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  /** When officers were last told (raised or re-notified), and how many re-notifications. */
  notifiedAt: Type.Integer(),
  renotified: Type.Integer(),
  /** The incident opened from it. */
  incident: Type.Union([Type.Integer(), Type.Null()]),
});
export type AlarmView = Static<typeof AlarmView>;

export const ALARM_TIMELINE_ACTIONS = [
  'raised',
  'reopened',
  'acknowledged',
  'cleared',
  'renotified',
  'escalated',
  'incident',
  'notified',
] as const;
export type AlarmTimelineAction = (typeof ALARM_TIMELINE_ACTIONS)[number];

export const AlarmTimelineEntry = Type.Object({
  ts: Type.Integer(),
  /** A username, or `hub` for what the hub did by itself. */
  actor: Type.String(),
  action: Type.Union(ALARM_TIMELINE_ACTIONS.map((a) => Type.Literal(a))),
  note: Type.Union([Type.String(), Type.Null()]),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type AlarmTimelineEntry = Static<typeof AlarmTimelineEntry>;

/** A note an officer writes when acknowledging (what they did, who they called). */
export const AckNote = Type.String({ minLength: 1, maxLength: 500, pattern: '\\S' });

export const AlarmAck = Type.Object({ note: Type.Optional(AckNote) }, { additionalProperties: false });
export type AlarmAck = Static<typeof AlarmAck>;

export const AlarmBulkAck = Type.Object(
  {
    ids: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 500, uniqueItems: true }),
    note: Type.Optional(AckNote),
  },
  { additionalProperties: false },
);
export type AlarmBulkAck = Static<typeof AlarmBulkAck>;

// ---------------------------------------------------------------------------------------------
// Rules on readings

/** A telemetry field name, as sensors report it (`water_level`). */
const Field = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' });

export const RuleCondition = Type.Union([
  Type.Object(
    {
      type: Type.Literal('threshold'),
      field: Field,
      op: Type.Union([Type.Literal('above'), Type.Literal('below')]),
      value: Type.Number(),
      /** The reading must come back this far past the threshold to clear (no chatter at the line; default 0). */
      hysteresis: Type.Optional(Type.Number({ minimum: 0 })),
      /** The condition must hold this long before the alarm fires (default 0: at once). */
      forMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('rate'),
      field: Field,
      /** Fires when the field changes by at least `change` (signed: negative for a fall) within `windowMs`. */
      change: Type.Number(),
      windowMs: Type.Integer({ minimum: 1000, maximum: 86_400_000 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('absence'),
      /** No reading of this field (any field when absent) for `forMs`. */
      field: Type.Optional(Field),
      forMs: Type.Integer({ minimum: 10_000, maximum: 7 * 86_400_000 }),
    },
    { additionalProperties: false },
  ),
]);
export type RuleCondition = Static<typeof RuleCondition>;

export const RuleScope = Type.Object(
  {
    /** A site and its subtree (a town covers its villages); absent: everywhere. */
    site: Type.Optional(Id),
    kind: Type.Optional(DeviceKind),
    /** One device, `{gateway}.{device}`. */
    device: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}\\.[A-Za-z0-9_-]{1,64}$' })),
  },
  { additionalProperties: false },
);

export const ReadingRuleBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 120, pattern: '\\S' }),
    enabled: Type.Boolean({ default: true }),
    scope: RuleScope,
    condition: RuleCondition,
    severity: AlarmSeverity,
    /** Speak a text on the loudspeakers nearest the device when it fires (the linkage service). */
    action: Type.Optional(
      Type.Object(
        {
          speak: Type.Object(
            {
              text: Type.String({ minLength: 1, maxLength: 500, pattern: '\\S' }),
              count: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
              maxDistanceM: Type.Number({ minimum: 1, maximum: 20_000, default: 2000 }),
            },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ReadingRuleBody = Static<typeof ReadingRuleBody>;

export const ReadingRule = Type.Intersect([
  ReadingRuleBody,
  Type.Object({
    id: Type.Integer(),
    createdBy: Type.String(),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
  }),
]);
export type ReadingRule = Static<typeof ReadingRule>;

export const RulePreviewRequest = Type.Object(
  {
    rule: ReadingRuleBody,
    /** How far back to replay stored readings (default 24 h). */
    hours: Type.Integer({ minimum: 1, maximum: 168, default: 24 }),
  },
  { additionalProperties: false },
);
export type RulePreviewRequest = Static<typeof RulePreviewRequest>;

export const RulePreview = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  devices: Type.Integer(),
  /** How many alarms the rule would have raised. */
  fires: Type.Integer(),
  alarms: Type.Array(
    Type.Object({
      device: Type.String(),
      ts: Type.Integer(),
      clearedAt: Type.Union([Type.Integer(), Type.Null()]),
      value: Type.Union([Type.Number(), Type.Null()]),
    }),
  ),
});
export type RulePreview = Static<typeof RulePreview>;

// ---------------------------------------------------------------------------------------------
// Notifications

export const NOTIFY_CHANNEL_TYPES = ['webhook', 'email', 'sms'] as const;
export type NotifyChannelType = (typeof NOTIFY_CHANNEL_TYPES)[number];

/** A configured channel as clients see it: never its secret or its URL's credentials. */
export const NotifyChannelView = Type.Object({
  id: Type.String(),
  type: Type.Union(NOTIFY_CHANNEL_TYPES.map((t) => Type.Literal(t))),
});
export type NotifyChannelView = Static<typeof NotifyChannelView>;

/** Clock time `HH:MM` in the hub's report time zone (`notifications.timeZoneOffsetMinutes`). */
const ClockTime = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' });

export const SubscriptionBody = Type.Object(
  {
    channel: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    /** E-mail addresses or phone numbers (a webhook channel has its own URL and takes none). */
    to: Type.Array(Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s<>"]+$' }), {
      maxItems: 20,
      default: [],
    }),
    /** For whom: a user (alarms in their scope only) or a role; neither: the command room. */
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    role: Type.Optional(
      Type.Union(
        ['admin', 'duty_officer', 'drone_pilot', 'village_operator', 'viewer'].map((r) => Type.Literal(r)),
      ),
    ),
    /** A site and its subtree; absent: everywhere. */
    site: Type.Optional(Id),
    minSeverity: AlarmSeverity,
    /** Warnings are held back between these times and sent when they end; alarm and critical never wait. */
    quietHours: Type.Optional(
      Type.Object({ from: ClockTime, to: ClockTime }, { additionalProperties: false }),
    ),
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type SubscriptionBody = Static<typeof SubscriptionBody>;

export const Subscription = Type.Intersect([
  SubscriptionBody,
  Type.Object({ id: Type.Integer(), createdBy: Type.String(), createdAt: Type.Integer() }),
]);
export type Subscription = Static<typeof Subscription>;

export const DELIVERY_STATUSES = [
  'pending',
  'sent',
  'retrying',
  'failed',
  'held',
  'rate_limited',
  'skipped',
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Why a notification went out: the alarm was raised, re-notified or escalated. */
export const NOTIFY_REASONS = ['raised', 'renotified', 'escalated'] as const;
export type NotifyReason = (typeof NOTIFY_REASONS)[number];

export const DeliveryView = Type.Object({
  id: Type.Integer(),
  alarm: Type.Integer(),
  subscription: Type.Integer(),
  channel: Type.String(),
  reason: Type.Union(NOTIFY_REASONS.map((r) => Type.Literal(r))),
  status: Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s))),
  attempts: Type.Integer(),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  /** The next attempt (retrying) or release (held). */
  nextAt: Type.Union([Type.Integer(), Type.Null()]),
  /** The last error (an HTTP status, an SMTP reply), never a secret. */
  error: Type.Union([Type.String(), Type.Null()]),
});
export type DeliveryView = Static<typeof DeliveryView>;

/** The webhook's JSON body. The signature is `X-Qly-Signature: sha256=<hex HMAC of "<X-Qly-Timestamp>.<body>">`. */
export interface WebhookBody {
  delivery: number;
  reason: NotifyReason;
  alarm: AlarmView;
  /** The site's and the device's names, as the duty room reads them. */
  siteName: string;
  deviceName: string;
  text: string;
}

// ---------------------------------------------------------------------------------------------
// Availability (在线率)

export const AvailabilityRow = Type.Object({
  /** The day (`YYYY-MM-DD` in the report's time zone). */
  day: Type.String(),
  site: Type.String(),
  kind: Type.Union([DeviceKind, Type.Literal('gateway')]),
  devices: Type.Integer(),
  /** Share of device-time online that day, 0…1 (4 decimals). */
  onlineRate: Type.Number(),
  offlineMs: Type.Integer(),
});
export type AvailabilityRow = Static<typeof AvailabilityRow>;

export const AvailabilityReport = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  timeZoneOffsetMinutes: Type.Integer(),
  rows: Type.Array(AvailabilityRow),
});
export type AvailabilityReport = Static<typeof AvailabilityReport>;
