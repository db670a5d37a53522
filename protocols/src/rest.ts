/**
 * The hub's REST answers, typed once. Each answer the dashboard reads has one schema here; the hub's
 * routes register it as their success `response` schema (Fastify serializes with it, so a field that
 * is not in the schema never leaves the hub: no session id, no password hash, no internal row), and
 * `REST_ANSWERS` maps each `METHOD /path` to it, so the dashboard's client (`dashboard/src/api.ts`)
 * types every answer by its path. `hub/test/rest-answers.test.ts` checks that every row is the very
 * schema its route answers with.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ROLES } from './access.ts';
import { AlarmTimelineEntry, AlarmView, AvailabilityReport, ReadingRule, RulePreview } from './alarms.ts';
import { BroadcastView } from './audio.ts';
import { Attachment, CallView, IncidentKpis, IncidentView, LinkagePlan, LinkageRule } from './incidents.ts';
import { CommandView, DeviceView, GatewayView } from './live.ts';
import {
  DiscoveryAnswer,
  EnrolAnswer,
  EnrolmentCodeAnswer,
  FleetReport,
  GatewayConfigView,
  GatewayLogTail,
} from './provisioning.ts';
import { EvidenceToken, EvidenceView, RecordingIndexView } from './recording.ts';
import { TelemetryValue } from './schemas.ts';
import { SiteView } from './sites.ts';
import { VideoTokenResponse } from './video.ts';

export const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));

/** A user as others may see them: never a password hash, never a session. */
export const PublicUser = Type.Object({
  username: Type.String(),
  role: RoleSchema,
  sites: Type.Array(Type.String()),
});
export type PublicUser = Static<typeof PublicUser>;

/** A user as an administrator lists them. */
export const UserView = Type.Object({ ...PublicUser.properties, disabled: Type.Boolean() });
export type UserView = Static<typeof UserView>;

export const LoginAnswer = Type.Object({ token: Type.String(), expiresAt: Type.Integer(), user: PublicUser });
export type LoginAnswer = Static<typeof LoginAnswer>;

export const DeviceLatest = Type.Object({
  key: Type.String(),
  ts: Type.Union([Type.Integer(), Type.Null()]),
  values: Type.Record(Type.String(), TelemetryValue),
});
export type DeviceLatest = Static<typeof DeviceLatest>;

/** One bucket of a downsampled series. */
export const HistoryPoint = Type.Object({
  ts: Type.Integer(),
  avg: Type.Number(),
  min: Type.Number(),
  max: Type.Number(),
  count: Type.Integer(),
});
export type HistoryPoint = Static<typeof HistoryPoint>;

export const DeviceHistory = Type.Object({
  key: Type.String(),
  field: Type.String(),
  bucketMs: Type.Integer(),
  points: Type.Array(HistoryPoint),
});
export type DeviceHistory = Static<typeof DeviceHistory>;

/** One bucket of a moving device's track (for replay). */
export const TrackPoint = Type.Object({
  ts: Type.Integer(),
  lat: Type.Number(),
  lon: Type.Number(),
  alt: Type.Optional(Type.Number()),
  heading: Type.Optional(Type.Number()),
  speed: Type.Optional(Type.Number()),
  battery: Type.Optional(Type.Number()),
});
export type TrackPoint = Static<typeof TrackPoint>;

export const DeviceTrack = Type.Object({
  key: Type.String(),
  bucketMs: Type.Integer(),
  points: Type.Array(TrackPoint),
});
export type DeviceTrack = Static<typeof DeviceTrack>;

/** One stored event of a device. */
export const DeviceEventRow = Type.Object({
  ts: Type.Integer(),
  type: Type.String(),
  severity: Type.String(),
  data: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});
export type DeviceEventRow = Static<typeof DeviceEventRow>;

export const AlarmList = Type.Object({ alarms: Type.Array(AlarmView) });
export type AlarmList = Static<typeof AlarmList>;

/** One alarm with its timeline (raised, re-notified, escalated, acknowledged, cleared…). */
export const AlarmDetail = Type.Object({ alarm: AlarmView, timeline: Type.Array(AlarmTimelineEntry) });
export type AlarmDetail = Static<typeof AlarmDetail>;

/** A bulk acknowledgement: what was acknowledged, and what was skipped with its error code. */
export const AlarmBulkAckAnswer = Type.Object({
  acknowledged: Type.Array(AlarmView),
  skipped: Type.Array(Type.Object({ id: Type.Integer(), code: Type.String(), message: Type.String() })),
});
export type AlarmBulkAckAnswer = Static<typeof AlarmBulkAckAnswer>;

/** Acknowledge-and-open-incident: the alarm as it now is and the incident made from it. */
export const AlarmIncidentAnswer = Type.Object({ alarm: AlarmView, incident: IncidentView });
export type AlarmIncidentAnswer = Static<typeof AlarmIncidentAnswer>;

/** The availability report: JSON (`format=json`, the default) or the CSV text (`format=csv`). */
export const AvailabilityAnswer = Type.Union([AvailabilityReport, Type.String()]);

/** An uploaded audio clip, named by the SHA-256 of its transcoded audio. */
export const ClipView = Type.Object({
  hash: Type.String(),
  name: Type.String(),
  bytes: Type.Integer(),
  durationMs: Type.Integer(),
  uploadedBy: Type.String(),
  uploadedAt: Type.Integer(),
});
export type ClipView = Static<typeof ClipView>;

export const MapSettings = Type.Object({
  tileUrl: Type.String(),
  tileAttribution: Type.String(),
  center: Type.Object({ lat: Type.Number(), lon: Type.Number() }),
  zoom: Type.Integer(),
  /** The village outlines and grid (GeoJSON, as the configured file holds it). */
  basemap: Type.Unknown(),
});
export type MapSettings = Static<typeof MapSettings>;

/** A STUN/TURN server as browsers take it (`RTCIceServer`); the hub's config holds the same shape. */
export const IceServer = Type.Object(
  {
    urls: Type.Union([Type.String(), Type.Array(Type.String())]),
    username: Type.Optional(Type.String()),
    credential: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type IceServer = Static<typeof IceServer>;

export const CallsConfig = Type.Object({ iceServers: Type.Array(IceServer), ringTimeoutMs: Type.Integer() });
export type CallsConfig = Static<typeof CallsConfig>;

export const AttachmentList = Type.Object({ attachments: Type.Array(Attachment) });

/**
 * Every answer the dashboard reads, by `METHOD /path` (path parameters as `:name`): the success
 * body. A route answering 204 has `Type.Null()`.
 */
export const REST_ANSWERS = {
  'POST /api/auth/login': LoginAnswer,
  'GET /api/auth/me': PublicUser,
  'POST /api/auth/logout': Type.Null(),
  'GET /api/users': Type.Array(UserView),
  'GET /api/sites': Type.Array(SiteView),
  'GET /api/gateways': Type.Array(GatewayView),
  'GET /api/devices': Type.Array(DeviceView),
  'GET /api/devices/:key': DeviceView,
  'GET /api/devices/:key/latest': DeviceLatest,
  'GET /api/devices/:key/history': DeviceHistory,
  'GET /api/devices/:key/track': DeviceTrack,
  'GET /api/devices/:key/events': Type.Array(DeviceEventRow),
  'POST /api/devices/:key/commands': CommandView,
  'POST /api/gateways/:id/commands': CommandView,
  'GET /api/devices/:key/commands': Type.Array(CommandView),
  'GET /api/commands/:id': CommandView,
  'GET /api/alarms': AlarmList,
  'POST /api/alarms/:id/ack': AlarmView,
  'GET /api/alarms/:id': AlarmDetail,
  'POST /api/alarms/ack': AlarmBulkAckAnswer,
  'POST /api/alarms/:id/incident': AlarmIncidentAnswer,
  'GET /api/alarm-rules': Type.Array(ReadingRule),
  'POST /api/alarm-rules': ReadingRule,
  'PUT /api/alarm-rules/:id': ReadingRule,
  'DELETE /api/alarm-rules/:id': Type.Null(),
  'POST /api/alarm-rules/preview': RulePreview,
  'GET /api/reports/availability': AvailabilityAnswer,
  'GET /api/incidents': Type.Array(IncidentView),
  'POST /api/incidents': IncidentView,
  'GET /api/incidents/kpis': Type.Array(IncidentKpis),
  'GET /api/incidents/:id': IncidentView,
  'POST /api/incidents/:id/transitions': IncidentView,
  'POST /api/incidents/:id/attachments': AttachmentList,
  'POST /api/incidents/:id/link': LinkagePlan,
  'POST /api/incidents/:id/link/broadcast': Type.Object({ broadcast: Type.String() }),
  'POST /api/incidents/:id/link/drone': Type.Object({ command: Type.String() }),
  'GET /api/broadcasts': Type.Array(BroadcastView),
  'POST /api/broadcasts': BroadcastView,
  'GET /api/broadcasts/:id': BroadcastView,
  'POST /api/broadcasts/:id/cancel': BroadcastView,
  'POST /api/broadcasts/:id/replay': BroadcastView,
  'POST /api/broadcasts/:id/speakers/:key/stop': BroadcastView,
  'GET /api/clips': Type.Array(ClipView),
  'POST /api/clips': ClipView,
  'GET /api/map': MapSettings,
  'GET /api/linkage/rules': Type.Array(LinkageRule),
  'GET /api/calls': Type.Array(CallView),
  'GET /api/calls/config': CallsConfig,
  'POST /api/video/tokens': VideoTokenResponse,
  'GET /api/cameras/:key/recordings': RecordingIndexView,
  'GET /api/incidents/:id/evidence': Type.Array(EvidenceView),
  'GET /api/evidence/:id': EvidenceView,
  'POST /api/evidence/:id/token': EvidenceToken,
  'POST /api/enrolments': EnrolmentCodeAnswer,
  'POST /api/enrol': EnrolAnswer,
  'GET /api/gateways/:id/config': GatewayConfigView,
  'PUT /api/gateways/:id/config': GatewayConfigView,
  'GET /api/fleet': FleetReport,
  'POST /api/gateways/:id/restart': CommandView,
  'GET /api/gateways/:id/logs': GatewayLogTail,
  'POST /api/gateways/:id/discover': DiscoveryAnswer,
} as const satisfies Record<string, TSchema>;

export type RestRoute = keyof typeof REST_ANSWERS;
/** The answer of `METHOD /path`, e.g. `RestAnswer<'GET /api/sites'>` is `SiteView[]`. */
export type RestAnswer<R extends RestRoute> = Static<(typeof REST_ANSWERS)[R]>;
