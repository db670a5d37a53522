/**
 * Runtime schemas of every MQTT payload (TypeBox: JSON Schema at runtime, TypeScript types inferred).
 * Fastify registers the same JSON Schemas for REST, so REST, MQTT and socket.io share one contract.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ID_PATTERN } from './topics.ts';
import { StreamNameSchema } from './video.ts';

export const Id = Type.String({ pattern: `^${ID_PATTERN}$`, description: 'id segment: [A-Za-z0-9_-], 1–64' });

/**
 * A unit as a person reads it beside a value (`m`, `mm`, `°C`, `%`, `m³/s`): short, printable, no
 * markup characters, so a dashboard can show it as text without escaping surprises.
 */
export const TelemetryUnit = Type.String({ pattern: '^[^\\x00-\\x1f\\x7f<>&"\']{1,16}$' });

/**
 * What a device says about itself (its manufacturer, its firmware version): short, printable, no
 * markup characters, like a unit. Devices write anything there (control characters, HTML, 300-byte
 * build strings); the gateway cleans and bounds it and the hub refuses what is not.
 */
export const DeviceText = Type.String({ pattern: '^[^\\x00-\\x1f\\x7f<>&"\']{1,64}$' });

/** Per-gateway sequence number, assigned by the edge outbox; strictly increasing per outbox epoch. */
export const Seq = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
/** Milliseconds since the Unix epoch (UTC). */
export const Timestamp = Type.Integer({ minimum: 0, maximum: 8.64e15 });

export const Position = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    alt: Type.Optional(Type.Number({ minimum: -1000, maximum: 100000 })),
  },
  { additionalProperties: false },
);
export type Position = Static<typeof Position>;

export const DEVICE_KINDS = ['camera', 'speaker', 'drone', 'sensor'] as const;
export const DeviceKind = Type.Union(DEVICE_KINDS.map((k) => Type.Literal(k)));
export type DeviceKind = Static<typeof DeviceKind>;

export const SEVERITIES = ['info', 'warning', 'alarm', 'critical'] as const;
export const Severity = Type.Union(SEVERITIES.map((s) => Type.Literal(s)));
export type Severity = Static<typeof Severity>;

/** A telemetry value: a number, a short string or a boolean. Numbers are what history stores. */
export const TelemetryValue = Type.Union([Type.Number(), Type.String({ maxLength: 256 }), Type.Boolean()]);
/** A telemetry field name. */
export const TelemetryKey = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' });
export const TelemetryValues = Type.Record(TelemetryKey, TelemetryValue, {
  maxProperties: 64,
  additionalProperties: false,
});
export type TelemetryValues = Static<typeof TelemetryValues>;

/**
 * Names one outbox database. A gateway whose disk was wiped starts a new epoch and its `seq`s restart
 * at 1; the hub keeps one dedup window per (gateway, lane, epoch). Every edge message carries it, so
 * no message is ambiguous, whichever arrives first.
 */
export const Epoch = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });

/**
 * The most devices one gateway may run. The heartbeat lists them all (2,000 ids of 64 characters fit
 * well inside MAX_PAYLOAD_BYTES); the hub's per-gateway device quota defaults to the same number.
 */
export const MAX_DEVICES_PER_GATEWAY = 2000;

/** Every message an edge outbox produces starts with these. */
const Sequenced = { seq: Seq, epoch: Epoch, ts: Timestamp };

// ---- Recording at the village (see recording.ts for the clips and REST answers) ----

/** The most ranges one camera's index carries; beyond it the oldest ranges are merged (gaps hidden). */
export const MAX_RECORDING_RANGES = 200;
/** Two segments this close (ms) are one continuous range. */
export const RECORDING_GAP_TOLERANCE_MS = 2000;

/** What one camera's recorder is doing. */
export const RECORDER_STATES = ['recording', 'starting', 'stopped', 'disabled'] as const;
export type RecorderState = (typeof RECORDER_STATES)[number];
export const RecorderStateSchema = Type.Union(RECORDER_STATES.map((s) => Type.Literal(s)));

/** `[start, end]`, ms since the epoch, start < end. */
export const RecordingRange = Type.Tuple([Timestamp, Timestamp]);
export type RecordingRange = Static<typeof RecordingRange>;

/**
 * `…/dev/{device}/recordings` — retained: what the gateway holds of one camera. Sent when a range
 * opens or closes, when the ring buffer deletes, and at most every `recording.indexIntervalMs`
 * otherwise (the open range's end moves forward).
 */
export const RecordingIndex = Type.Object(
  {
    ...Sequenced,
    stream: StreamNameSchema,
    state: RecorderStateSchema,
    /** Time ranges held, oldest first; a gap between two is video the gateway does not have. */
    ranges: Type.Array(RecordingRange, { maxItems: MAX_RECORDING_RANGES }),
    segments: Type.Integer({ minimum: 0 }),
    bytes: Type.Integer({ minimum: 0 }),
    /** Segments the ring buffer deleted since the agent started (oldest first). */
    deleted: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type RecordingIndex = Static<typeof RecordingIndex>;

/** One camera in the gateway heartbeat's `recording` block. */
export const RecorderHealth = Type.Object(
  {
    device: Id,
    stream: StreamNameSchema,
    state: RecorderStateSchema,
    /** Why it is not recording (the last ffmpeg error, no stream…). */
    reason: Type.Optional(Type.String({ maxLength: 256 })),
    /** When its last segment was completed. */
    lastSegmentAt: Type.Optional(Timestamp),
    bytes: Type.Integer({ minimum: 0 }),
    deleted: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type RecorderHealth = Static<typeof RecorderHealth>;

/** The heartbeat's `recording` block: the disk and every recorder. */
export const GatewayRecording = Type.Object(
  {
    freeBytes: Type.Integer({ minimum: 0 }),
    usedBytes: Type.Integer({ minimum: 0 }),
    cameras: Type.Array(RecorderHealth, { maxItems: 512 }),
  },
  { additionalProperties: false },
);
export type GatewayRecording = Static<typeof GatewayRecording>;

/** The last will, published by the broker when a gateway's connection drops without DISCONNECT. */
export const LastWill = Type.Object({ online: Type.Literal(false) }, { additionalProperties: false });
export type LastWill = Static<typeof LastWill>;

/** `…/state` — retained heartbeat; the broker publishes the last will `{ "online": false }` when the link drops. */
export const GatewayHeartbeat = Type.Object(
  {
    ...Sequenced,
    online: Type.Boolean(),
    version: Type.Optional(Type.String({ maxLength: 64 })),
    /** Heartbeat period in ms: the hub marks the gateway stale after about two missed beats. */
    heartbeatMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
    devices: Type.Optional(Type.Array(Id, { maxItems: MAX_DEVICES_PER_GATEWAY })),
    /** When the agent process (or its last in-place restart) started: uptime for the fleet view. */
    startedAt: Type.Optional(Timestamp),
    /** The hub config version the gateway runs (0: none yet). */
    configVersion: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 })),
    outbox: Type.Optional(
      Type.Object(
        {
          depth: Type.Integer({ minimum: 0 }),
          dropped: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Free disk and each camera's recorder, when the gateway records. */
    recording: Type.Optional(GatewayRecording),
  },
  { additionalProperties: false },
);
export type GatewayHeartbeat = Static<typeof GatewayHeartbeat>;

export const GatewayState = Type.Union([GatewayHeartbeat, LastWill]);
export type GatewayState = Static<typeof GatewayState>;

/** `…/dev/{device}/availability` — retained: whether the gateway can reach the device right now. */
export const DeviceAvailability = Type.Object(
  {
    ...Sequenced,
    online: Type.Boolean(),
    /** Why the device is unreachable (a timeout, a refused login…), for the operator. */
    reason: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type DeviceAvailability = Static<typeof DeviceAvailability>;

/**
 * A stream the device offers. No URL: the gateway keeps camera addresses and credentials, and the
 * hub reaches the stream through `stream.start` (or its own per-camera pull setting).
 */
export const StreamDescriptor = Type.Object(
  {
    name: Type.Union([Type.Literal('main'), Type.Literal('sub')]),
    codec: Type.Optional(Type.String({ maxLength: 32 })),
    width: Type.Optional(Type.Integer({ minimum: 1, maximum: 16384 })),
    height: Type.Optional(Type.Integer({ minimum: 1, maximum: 16384 })),
    fps: Type.Optional(Type.Number({ minimum: 0, maximum: 240 })),
  },
  { additionalProperties: false },
);
export type StreamDescriptor = Static<typeof StreamDescriptor>;

/** `…/dev/{device}/meta` — retained device descriptor. */
export const DeviceMeta = Type.Object(
  {
    ...Sequenced,
    kind: DeviceKind,
    name: Type.String({ minLength: 1, maxLength: 128 }),
    model: Type.Optional(Type.String({ maxLength: 128 })),
    /** Who made it, as the device reports it; absent when unknown (empty, or a placeholder like `NONE`). */
    manufacturer: Type.Optional(DeviceText),
    /** Its firmware version as it reports it (`V5.5.3 build 180822`, a drone's `4.1.1-beta (66c674c1)`). */
    firmware: Type.Optional(DeviceText),
    position: Position,
    /** Degrees clockwise from north, where the device points (cameras) or flies (drones). */
    heading: Type.Optional(Type.Number({ minimum: 0, maximum: 360 })),
    /** Horizontal field of view in degrees (cameras). */
    fov: Type.Optional(Type.Number({ minimum: 0, maximum: 360 })),
    capabilities: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,63}$' }), { maxItems: 64 }),
    streams: Type.Optional(Type.Array(StreamDescriptor, { maxItems: 8 })),
    /** A drone's planned route (its mission), waypoints in order. */
    route: Type.Optional(Type.Array(Position, { maxItems: 500 })),
    /** Loudspeaker zones this device belongs to (broadcast targets). */
    zones: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }), { maxItems: 16, uniqueItems: true }),
    ),
    /** How far it is heard (loudspeakers), metres. */
    coverageM: Type.Optional(Type.Number({ minimum: 1, maximum: 5000 })),
    /** The unit of each telemetry field that has one (sensors): field → unit as shown, e.g. `m`, `°C`. */
    units: Type.Optional(
      Type.Record(TelemetryKey, TelemetryUnit, { maxProperties: 64, additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type DeviceMeta = Static<typeof DeviceMeta>;

export const TelemetrySample = Type.Object(
  { ts: Timestamp, values: TelemetryValues },
  { additionalProperties: false },
);
export type TelemetrySample = Static<typeof TelemetrySample>;

/** `…/dev/{device}/telemetry` — one sample (`values`) or a batch (`samples`), never both. */
export const Telemetry = Type.Union([
  Type.Object({ ...Sequenced, values: TelemetryValues }, { additionalProperties: false }),
  Type.Object(
    { ...Sequenced, samples: Type.Array(TelemetrySample, { minItems: 1, maxItems: 500 }) },
    { additionalProperties: false },
  ),
]);
export type Telemetry = Static<typeof Telemetry>;

/** `…/dev/{device}/event` */
export const DeviceEvent = Type.Object(
  {
    ...Sequenced,
    type: Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,63}$' }),
    severity: Severity,
    data: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
  },
  { additionalProperties: false },
);
export type DeviceEvent = Static<typeof DeviceEvent>;

export const ActionName = Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,63}$' });

/** `…/cmd` — hub → edge. Correlated by `id` so it works without MQTT 5 response topics. */
/** A command id: the hub names it, the edge echoes it, so results reach the request that sent them. */
export const CommandId = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' });

export const Command = Type.Object(
  {
    id: CommandId,
    device: Type.Optional(Id),
    action: ActionName,
    params: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
    /** Milliseconds since the epoch after which the edge must not execute the command. */
    deadline: Timestamp,
  },
  { additionalProperties: false },
);
export type Command = Static<typeof Command>;

export const CommandError = Type.Object(
  { code: Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,63}$' }), message: Type.String({ maxLength: 1024 }) },
  { additionalProperties: false },
);

/** `…/cmd/result` — edge → hub. */
export const CommandResult = Type.Union([
  Type.Object(
    {
      ...Sequenced,
      id: CommandId,
      status: Type.Literal('ok'),
      data: Type.Optional(Type.Unknown()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ...Sequenced,
      id: CommandId,
      status: Type.Literal('error'),
      error: CommandError,
    },
    { additionalProperties: false },
  ),
]);
export type CommandResult = Static<typeof CommandResult>;

/**
 * A device secret sealed to one gateway's key (X25519 + HKDF-SHA256 + AES-256-GCM, see
 * provisioning.ts `SEALED_SECRET`): what travels in a config instead of a password.
 */
export const SealedSecret = Type.Object(
  { sealed: Type.String({ pattern: '^v1\\.[A-Za-z0-9_-]{60,4096}$' }) },
  { additionalProperties: false },
);
export type SealedSecret = Static<typeof SealedSecret>;

/**
 * One device as the hub keeps it for a gateway: the adapter's own config (its `type` names the
 * adapter; the gateway checks the rest against that adapter's schema), secrets as `SealedSecret`.
 */
export const ProvisionedDevice = Type.Object(
  { type: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }), id: Id },
  { additionalProperties: true, maxProperties: 64 },
);
export type ProvisionedDevice = Static<typeof ProvisionedDevice> & Record<string, unknown>;

/**
 * `…/config` — hub → edge, QoS 1, retained: the gateway's desired devices, the latest version only.
 * A gateway that was away gets it on subscribing; it applies a version once and as a whole.
 */
export const GatewayConfig = Type.Object(
  {
    version: Type.Integer({ minimum: 1, maximum: 2 ** 31 }),
    ts: Timestamp,
    devices: Type.Array(ProvisionedDevice, { maxItems: MAX_DEVICES_PER_GATEWAY }),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;

/** What became of one device of a config version at the gateway. */
export const ConfigDeviceOutcome = Type.Union([
  Type.Literal('started'),
  Type.Literal('changed'),
  Type.Literal('unchanged'),
  Type.Literal('stopped'),
  Type.Literal('failed'),
]);
export const ConfigDeviceResult = Type.Object(
  {
    id: Id,
    outcome: ConfigDeviceOutcome,
    /** Whether the gateway reaches the device (absent for stopped devices, or when not yet known). */
    online: Type.Optional(Type.Boolean()),
    /** Why it is failed or unreachable ("credentials refused"), for the administrator. */
    reason: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type ConfigDeviceResult = Static<typeof ConfigDeviceResult>;

/**
 * `…/config/result` — edge → hub, control lane: a version applied (with each device's result) or
 * refused as a whole (with every problem; the previous version keeps running).
 */
export const ConfigResult = Type.Object(
  {
    ...Sequenced,
    version: Type.Integer({ minimum: 1, maximum: 2 ** 31 }),
    status: Type.Union([Type.Literal('applied'), Type.Literal('refused')]),
    /** The version running now (the previous one after a refusal; 0 when none). */
    running: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
    devices: Type.Array(ConfigDeviceResult, { maxItems: MAX_DEVICES_PER_GATEWAY }),
    problems: Type.Optional(Type.Array(Type.String({ maxLength: 512 }), { maxItems: 64 })),
  },
  { additionalProperties: false },
);
export type ConfigResult = Static<typeof ConfigResult>;

/** The payload schema of each topic kind. */
export const PAYLOAD_SCHEMAS = {
  state: GatewayState,
  meta: DeviceMeta,
  availability: DeviceAvailability,
  recordings: RecordingIndex,
  telemetry: Telemetry,
  event: DeviceEvent,
  cmd: Command,
  cmdResult: CommandResult,
  config: GatewayConfig,
  configResult: ConfigResult,
} as const;

export interface PayloadOf {
  state: GatewayState;
  meta: DeviceMeta;
  availability: DeviceAvailability;
  recordings: RecordingIndex;
  telemetry: Telemetry;
  event: DeviceEvent;
  cmd: Command;
  cmdResult: CommandResult;
  config: GatewayConfig;
  configResult: ConfigResult;
}
