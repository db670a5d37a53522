/**
 * Incidents (事件), linkage and video calls: the command room's loop from a report to its closure.
 *
 * An incident moves new → accepted → assigned → in_progress → resolved → closed (with feedback);
 * a level that cannot solve it escalates it to the level above (village → town → county) and an
 * upper level may return it. Every transition is recorded. SLA timers: accept-by and resolve-by,
 * with a warning before each and a mark on breach.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Id, Position } from './schemas.ts';

export const INCIDENT_STATUSES = [
  'new',
  'accepted',
  'assigned',
  'in_progress',
  'resolved',
  'closed',
  'escalated',
  'returned',
] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export const INCIDENT_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type IncidentPriority = (typeof INCIDENT_PRIORITIES)[number];

export const INCIDENT_SOURCES = ['alarm', 'rule', 'officer', 'village'] as const;

/** The actions that move an incident, and the states each may start from. */
export const INCIDENT_TRANSITIONS = {
  accept: { from: ['new', 'escalated', 'returned'], to: 'accepted' },
  assign: { from: ['accepted', 'assigned'], to: 'assigned' },
  start: { from: ['accepted', 'assigned'], to: 'in_progress' },
  resolve: { from: ['in_progress'], to: 'resolved' },
  close: { from: ['resolved'], to: 'closed' },
  reopen: { from: ['resolved'], to: 'in_progress' },
  escalate: {
    from: ['new', 'accepted', 'assigned', 'in_progress', 'escalated', 'returned'],
    to: 'escalated',
  },
  return: { from: ['escalated', 'accepted', 'assigned'], to: 'returned' },
} as const satisfies Record<string, { from: readonly IncidentStatus[]; to: IncidentStatus }>;
export type IncidentAction = keyof typeof INCIDENT_TRANSITIONS;
export const INCIDENT_ACTIONS = Object.keys(INCIDENT_TRANSITIONS) as IncidentAction[];

const Category = Type.String({
  pattern: '^[a-z][a-z0-9_.-]{0,63}$',
  description: 'e.g. fire, flood, intrusion',
});
const Text = (max: number) => Type.String({ maxLength: max });

export const Attachment = Type.Object(
  {
    kind: Type.Literal('snapshot'),
    /** The camera (`{gateway}.{device}`). */
    device: Type.String({ maxLength: 200 }),
    ts: Type.Integer(),
    /** Where the dashboard fetches it (`/api/incidents/{id}/attachments/{n}`). */
    url: Type.String(),
  },
  { additionalProperties: false },
);
export type Attachment = Static<typeof Attachment>;

export const IncidentEvent = Type.Object({
  ts: Type.Integer(),
  actor: Type.String(),
  /** A transition (`accept`, …), or `created`, `sla_warning`, `sla_breach`, `linked`, `call`, `note`. */
  action: Type.String(),
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.Union([Type.String(), Type.Null()]),
  note: Type.Optional(Type.String()),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type IncidentEvent = Static<typeof IncidentEvent>;

export const SlaState = Type.Object({
  /** ms epoch */
  due: Type.Integer(),
  /** ms epoch of the warning and the breach, once they happened. */
  warnedAt: Type.Union([Type.Integer(), Type.Null()]),
  breachedAt: Type.Union([Type.Integer(), Type.Null()]),
  /** When it was met (accepted / resolved), or null while open. */
  metAt: Type.Union([Type.Integer(), Type.Null()]),
});
export type SlaState = Static<typeof SlaState>;

export const IncidentView = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  category: Type.String(),
  priority: Type.Union(INCIDENT_PRIORITIES.map((p) => Type.Literal(p))),
  status: Type.Union(INCIDENT_STATUSES.map((s) => Type.Literal(s))),
  source: Type.Union(INCIDENT_SOURCES.map((s) => Type.Literal(s))),
  /** The village (or grid) where it happened. */
  site: Id,
  /** The level that owns it now: the site itself, or a town / county above it after escalation. */
  owner: Id,
  location: Type.Union([Position, Type.Null()]),
  description: Type.String(),
  devices: Type.Array(Type.String()),
  attachments: Type.Array(Attachment),
  alarm: Type.Union([Type.Integer(), Type.Null()]),
  assignee: Type.Union([Type.String(), Type.Null()]),
  feedback: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.Integer(),
  createdBy: Type.String(),
  updatedAt: Type.Integer(),
  accept: SlaState,
  resolve: SlaState,
  closedAt: Type.Union([Type.Integer(), Type.Null()]),
  events: Type.Optional(Type.Array(IncidentEvent)),
});
export type IncidentView = Static<typeof IncidentView>;

export const IncidentCreate = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 120 }),
    category: Category,
    priority: Type.Optional(Type.Union(INCIDENT_PRIORITIES.map((p) => Type.Literal(p)))),
    /** Where it happened (a village or grid); taken from the alarm's device when `alarm` is given. */
    site: Type.Optional(Id),
    /** The alarm it comes from (its device, place and village are taken from it). */
    alarm: Type.Optional(Type.Integer({ minimum: 1 })),
    location: Type.Optional(Position),
    description: Type.Optional(Text(4000)),
    devices: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 32 })),
  },
  { additionalProperties: false },
);
export type IncidentCreate = Static<typeof IncidentCreate>;

export const IncidentTransition = Type.Object(
  {
    action: Type.Union(INCIDENT_ACTIONS.map((a) => Type.Literal(a))),
    note: Type.Optional(Text(2000)),
    /** `assign`: who handles it. */
    assignee: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** `close`: the feedback (required). */
    feedback: Type.Optional(Text(2000)),
  },
  { additionalProperties: false },
);
export type IncidentTransition = Static<typeof IncidentTransition>;

/** KPIs of one village (or the total) over a period. Rates are 0–1, times in ms; null with no data. */
export const IncidentKpis = Type.Object({
  site: Type.String(),
  name: Type.String(),
  created: Type.Integer(),
  accepted: Type.Integer(),
  closed: Type.Integer(),
  acceptanceRate: Type.Union([Type.Number(), Type.Null()]),
  closureRate: Type.Union([Type.Number(), Type.Null()]),
  onTimeRate: Type.Union([Type.Number(), Type.Null()]),
  meanTimeToAcceptMs: Type.Union([Type.Number(), Type.Null()]),
  meanTimeToResolveMs: Type.Union([Type.Number(), Type.Null()]),
});
export type IncidentKpis = Static<typeof IncidentKpis>;

/** What a linkage rule (or the "link" button) found near an incident and did or proposes. */
export const LinkagePlan = Type.Object({
  incident: Type.Union([Type.Integer(), Type.Null()]),
  rule: Type.Union([Type.String(), Type.Null()]),
  location: Position,
  site: Id,
  /** Nearest cameras first (those that see the spot before those that must turn). */
  cameras: Type.Array(
    Type.Object({
      key: Type.String(),
      distanceM: Type.Number(),
      inView: Type.Boolean(),
      preset: Type.Optional(Type.String()),
    }),
  ),
  speakers: Type.Array(Type.Object({ key: Type.String(), distanceM: Type.Number() })),
  drone: Type.Union([Type.Object({ key: Type.String(), distanceM: Type.Number() }), Type.Null()]),
  /** The warning broadcast: started (its id) or proposed (the text to confirm). */
  broadcast: Type.Union([
    Type.Object({ mode: Type.Literal('started'), id: Type.String(), text: Type.String() }),
    Type.Object({ mode: Type.Literal('proposed'), text: Type.String() }),
    Type.Null(),
  ]),
  notified: Type.Array(Type.String()),
  ts: Type.Integer(),
});
export type LinkagePlan = Static<typeof LinkagePlan>;

/** A plan as announced: who ran it (a user, or `linkage` for a rule). */
export const LinkageEvent = Type.Object({ plan: LinkagePlan, by: Type.String() });
export type LinkageEvent = Static<typeof LinkageEvent>;

/** "When an event of these types happens at a device in this zone → these actions." */
export const LinkageRule = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    name: Type.String({ minLength: 1, maxLength: 120 }),
    enabled: Type.Optional(Type.Boolean()),
    when: Type.Object(
      {
        /** Event types (`motion`, `intrusion`, `geofence.exit`, …); empty matches every alarm. */
        types: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
        /** Sites (any level: a town covers its villages); none: everywhere. */
        sites: Type.Optional(Type.Array(Id, { maxItems: 64 })),
        /** Device kinds; none: any. */
        kinds: Type.Optional(Type.Array(Type.String({ maxLength: 16 }), { maxItems: 4 })),
      },
      { additionalProperties: false },
    ),
    actions: Type.Object(
      {
        incident: Type.Optional(
          Type.Object(
            {
              category: Category,
              priority: Type.Optional(Type.Union(INCIDENT_PRIORITIES.map((p) => Type.Literal(p)))),
              title: Type.Optional(Type.String({ maxLength: 120 })),
            },
            { additionalProperties: false },
          ),
        ),
        cameras: Type.Optional(
          Type.Object(
            {
              count: Type.Integer({ minimum: 1, maximum: 16, default: 2 }),
              maxDistanceM: Type.Number({ minimum: 1, maximum: 20_000, default: 1000 }),
              /** A PTZ preset to turn the cameras to (its token). */
              preset: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
            },
            { additionalProperties: false },
          ),
        ),
        broadcast: Type.Optional(
          Type.Object(
            {
              /** `auto` starts it at once; `propose` waits for an officer's click. */
              mode: Type.Union([Type.Literal('auto'), Type.Literal('propose')]),
              text: Type.String({ minLength: 1, maxLength: 500 }),
              count: Type.Integer({ minimum: 1, maximum: 50, default: 3 }),
              maxDistanceM: Type.Number({ minimum: 1, maximum: 20_000, default: 2000 }),
            },
            { additionalProperties: false },
          ),
        ),
        drone: Type.Optional(
          Type.Object(
            { maxDistanceM: Type.Number({ minimum: 1, default: 10_000 }) },
            { additionalProperties: false },
          ),
        ),
        notify: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type LinkageRule = Static<typeof LinkageRule>;

export const CALL_STATES = ['ringing', 'active', 'ended', 'missed', 'declined'] as const;
export type CallState = (typeof CALL_STATES)[number];

export const CallView = Type.Object({
  id: Type.String(),
  /** Who called: a username, and the site they called from (their village, or null for the command room). */
  from: Type.String(),
  fromSite: Type.Union([Type.String(), Type.Null()]),
  /** Whom: sites (villages / towns, whose operators ring) and/or the command room (duty officers). */
  to: Type.Object({ sites: Type.Array(Type.String()), commandRoom: Type.Boolean() }),
  state: Type.Union(CALL_STATES.map((s) => Type.Literal(s))),
  participants: Type.Array(
    Type.Object({ username: Type.String(), socket: Type.String(), joinedAt: Type.Integer() }),
  ),
  /** Everyone who took part, in the order they joined (the log keeps it after they hang up). */
  joined: Type.Array(Type.String()),
  incident: Type.Union([Type.Integer(), Type.Null()]),
  /** A camera shown inside the call (each side opens it with its own permission). */
  camera: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.Integer(),
  answeredAt: Type.Union([Type.Integer(), Type.Null()]),
  endedAt: Type.Union([Type.Integer(), Type.Null()]),
});
export type CallView = Static<typeof CallView>;

export const MAX_CALL_PARTICIPANTS = 4;

export const CallStart = Type.Object(
  {
    sites: Type.Optional(Type.Array(Id, { maxItems: 3 })),
    commandRoom: Type.Optional(Type.Boolean()),
    incident: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type CallStart = Static<typeof CallStart>;

/** The longest SDP a call signal carries (a two-track offer is 3–6 KB). */
export const MAX_CALL_SDP_CHARS = 20_000;
/** The longest ICE candidate line (RFC 8839 §5.1 candidates are well under 512 characters). */
export const MAX_ICE_CANDIDATE_CHARS = 1024;

/** An SDP offer/answer or an ICE candidate, relayed to one participant's socket. */
export const CallSignal = Type.Object(
  {
    call: Type.String({ maxLength: 64 }),
    to: Type.String({ maxLength: 64 }),
    data: Type.Object(
      {
        sdp: Type.Optional(
          Type.Object(
            {
              type: Type.Union([Type.Literal('offer'), Type.Literal('answer')]),
              sdp: Type.String({ maxLength: MAX_CALL_SDP_CHARS }),
            },
            { additionalProperties: false },
          ),
        ),
        // An RTCIceCandidateInit, every field bounded: a candidate line is a few hundred bytes (RFC
        // 8839 §5.1); the hostile pass relayed 215 MB through an unbounded one in 9 s.
        candidate: Type.Optional(
          Type.Union([
            Type.Object(
              {
                candidate: Type.String({ maxLength: MAX_ICE_CANDIDATE_CHARS }),
                sdpMid: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
                sdpMLineIndex: Type.Optional(
                  Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()]),
                ),
                usernameFragment: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
              },
              { additionalProperties: false },
            ),
            Type.Null(),
          ]),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type CallSignal = Static<typeof CallSignal>;
