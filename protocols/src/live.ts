/**
 * The live channel between hub and dashboard (socket.io). The client authenticates in the handshake
 * (`auth: { token }`), then sends `subscribe`; the hub answers with a `snapshot` of everything in
 * scope and afterwards sends coalesced `delta` batches.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { CallSignal, CallStart, CallView } from './incidents.ts';
import type { LivePayload, LiveTopicName } from './live-topics.ts';
import {
  DeviceKind,
  GatewayRecording,
  Id,
  Position,
  Severity,
  StreamDescriptor,
  TelemetryValue,
} from './schemas.ts';
import type { SiteNode } from './sites.ts';

export const DEVICE_STATUSES = ['online', 'offline', 'alarm'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

export const DeviceView = Type.Object({
  key: Type.String({ description: '`{gateway}.{device}`' }),
  site: Id,
  gateway: Id,
  device: Id,
  kind: DeviceKind,
  name: Type.String(),
  model: Type.Optional(Type.String()),
  /** As its descriptor says (absent: unknown). */
  manufacturer: Type.Optional(Type.String()),
  firmware: Type.Optional(Type.String()),
  position: Position,
  heading: Type.Optional(Type.Number()),
  fov: Type.Optional(Type.Number()),
  capabilities: Type.Array(Type.String()),
  /** A drone's planned route (its mission). */
  route: Type.Optional(Type.Array(Position)),
  /** The video streams it offers (cameras; drones with a camera). */
  streams: Type.Optional(Type.Array(StreamDescriptor)),
  /** Loudspeaker zones and how far it is heard. */
  zones: Type.Optional(Type.Array(Type.String())),
  coverageM: Type.Optional(Type.Number()),
  /** The unit of each telemetry field that has one, as its descriptor gave it (`water_level` → `m`). */
  units: Type.Optional(Type.Record(Type.String(), Type.String())),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('alarm')]),
  /** ms epoch of the last message from this device, or null before any. */
  lastSeen: Type.Union([Type.Integer(), Type.Null()]),
  values: Type.Record(Type.String(), TelemetryValue),
  /** ms epoch of the telemetry sample behind `values`. */
  valuesTs: Type.Union([Type.Integer(), Type.Null()]),
  /** Present while the gateway reports that it cannot reach the device (a dead camera behind a live gateway). */
  unreachable: Type.Optional(
    Type.Object({ since: Type.Integer(), reason: Type.String() }, { additionalProperties: false }),
  ),
  lastEvent: Type.Optional(
    Type.Object(
      { ts: Type.Integer(), type: Type.String(), severity: Severity },
      { additionalProperties: false },
    ),
  ),
});
export type DeviceView = Static<typeof DeviceView>;

export const GatewayView = Type.Object({
  id: Id,
  site: Id,
  online: Type.Boolean(),
  version: Type.Union([Type.String(), Type.Null()]),
  lastSeen: Type.Union([Type.Integer(), Type.Null()]),
  outboxDepth: Type.Union([Type.Integer(), Type.Null()]),
  outboxDropped: Type.Union([Type.Integer(), Type.Null()]),
  deviceCount: Type.Integer(),
  /**
   * Online but silent for longer than twice its heartbeat (power or 4G cut without a last will):
   * shown at once, before the gateway is declared offline.
   */
  stale: Type.Boolean(),
  /** Free disk and each camera's recorder, from its last heartbeat (a gateway that records). */
  recording: Type.Optional(GatewayRecording),
  /** When the agent (or its last in-place restart) started, as it reported. */
  startedAt: Type.Optional(Type.Integer()),
});
export type GatewayView = Static<typeof GatewayView>;

/** A map viewport: south-west and north-east corners. */
export const BBox = Type.Object(
  {
    south: Type.Number({ minimum: -90, maximum: 90 }),
    west: Type.Number({ minimum: -180, maximum: 180 }),
    north: Type.Number({ minimum: -90, maximum: 90 }),
    east: Type.Number({ minimum: -180, maximum: 180 }),
  },
  { additionalProperties: false },
);
export type BBox = Static<typeof BBox>;

/** Drones always come with their latest values: few, moving, and their track is drawn at every zoom. */
export const ALWAYS_DETAILED_KINDS: readonly string[] = ['drone'];

/**
 * What a client wants. `site` and `bbox` bound which devices it gets at all. With `brief`, a device
 * outside `detail` (the viewport a map shows up close) and not in `watch` (an open panel, a video
 * tile) is sent only when what a map or a list shows of it changes — status, place, name, an event —
 * not on every telemetry sample: a county-zoom page of 10,000 devices gets a trickle, not a flood.
 * A subscribe that changes only `detail` / `watch` is answered with a delta of the newly detailed
 * devices, not a new snapshot.
 */
export const LiveSubscribe = Type.Object(
  {
    site: Type.Optional(Id),
    bbox: Type.Optional(BBox),
    brief: Type.Optional(Type.Boolean()),
    detail: Type.Optional(BBox),
    watch: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 64 })),
  },
  { additionalProperties: false },
);
export type LiveSubscribe = Static<typeof LiveSubscribe>;

export interface LiveSnapshot {
  devices: DeviceView[];
  gateways: GatewayView[];
  /** The site tree in the user's scope (names, levels, outlines): a page needs no other source. */
  sites: SiteNode[];
  ts: number;
}

export interface LiveDelta {
  devices: DeviceView[];
  gateways: GatewayView[];
  /** Keys of devices that left the subscribed scope (moved out of the viewport). */
  removed: string[];
  ts: number;
}

export const COMMAND_STATUSES = ['sent', 'ok', 'error', 'timeout'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

/** A command as the hub tracks it: sent, then ok / error / timeout. */
export const CommandView = Type.Object({
  id: Type.String(),
  username: Type.String(),
  site: Id,
  gateway: Id,
  /** `{gateway}.{device}`, or null for a gateway action. */
  target: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  status: Type.Union(COMMAND_STATUSES.map((s) => Type.Literal(s))),
  createdAt: Type.Integer(),
  deadline: Type.Integer(),
  finishedAt: Type.Union([Type.Integer(), Type.Null()]),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  data: Type.Optional(Type.Unknown()),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});
export type CommandView = Static<typeof CommandView>;

/** The table's topics (live-topics.ts), each an event with its payload. */
type LiveTopicEvents = { [N in LiveTopicName]: (payload: LivePayload<N>) => void };

export interface ServerToClientEvents extends LiveTopicEvents {
  snapshot: (snapshot: LiveSnapshot) => void;
  delta: (delta: LiveDelta) => void;
  /** Sent when a `subscribe` was rejected; the previous subscription stays in force. */
  'subscribe:error': (error: { code: string; message: string }) => void;
  /** A call rings for this user. */
  'call:ring': (call: CallView) => void;
  /** A call this user rings for or takes part in changed (answered, joined, left, ended). */
  'call:update': (call: CallView) => void;
  /** An SDP offer / answer or ICE candidate from another participant's socket. */
  'call:signal': (signal: { call: string; from: string; data: CallSignal['data'] }) => void;
  'call:error': (error: { code: string; message: string }) => void;
}

export interface ClientToServerEvents {
  subscribe: (subscription: LiveSubscribe) => void;
  'call:start': (
    request: CallStart,
    ack: (reply: { call?: CallView; error?: { code: string; message: string } }) => void,
  ) => void;
  'call:accept': (m: { call: string }) => void;
  'call:decline': (m: { call: string }) => void;
  'call:hangup': (m: { call: string }) => void;
  'call:camera': (m: { call: string; camera: string | null }) => void;
  'call:signal': (signal: CallSignal) => void;
}

export function inBBox(position: Position, bbox: BBox): boolean {
  return (
    position.lat >= bbox.south &&
    position.lat <= bbox.north &&
    position.lon >= bbox.west &&
    position.lon <= bbox.east
  );
}
