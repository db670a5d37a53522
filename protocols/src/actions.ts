/**
 * The command catalog: every action the hub may send to a gateway or device, with its parameter
 * schema, the device kinds that take it and its default execution time. The hub validates a request
 * against it before publishing; the edge validates the command against it again before running it;
 * an adapter implements a subset and advertises exactly that subset as `cmd.<action>` capabilities.
 * Adding an action is one entry here plus its handler in the adapter's action table.
 */
import { type Static, type TObject, Type } from '@sinclair/typebox';
import { SpeakerPlayParams, SpeakerStopParams } from './audio.ts';
import { LogTailParams } from './provisioning.ts';
import { RecordingClipParams } from './recording.ts';
import type { DeviceKind } from './schemas.ts';
import { SessionId, StreamNameSchema } from './video.ts';

export interface ActionSpec {
  /** `gateway`: addressed to the gateway itself (no `device`); `device`: to one device. */
  scope: 'gateway' | 'device';
  kinds: readonly DeviceKind[];
  params: TObject;
  /** How long the hub waits for the result by default, and the longest a caller may ask for. */
  timeoutMs: number;
  maxTimeoutMs: number;
  description: string;
}

const NoParams = Type.Object({}, { additionalProperties: false });
const Speed = (description: string) => Type.Number({ minimum: -1, maximum: 1, default: 0, description });
const PresetToken = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'preset token' });

export const PtzMoveParams = Type.Object(
  {
    pan: Speed('pan speed, -1 (left) … 1 (right)'),
    tilt: Speed('tilt speed, -1 (down) … 1 (up)'),
    zoom: Speed('zoom speed, -1 (out) … 1 (in)'),
    /** The camera stops by itself after this long, so a lost "stop" never leaves it spinning. */
    durationMs: Type.Integer({ minimum: 50, maximum: 10_000, default: 1000 }),
  },
  { additionalProperties: false },
);
export type PtzMoveParams = Static<typeof PtzMoveParams>;

export const PresetParams = Type.Object({ preset: PresetToken }, { additionalProperties: false });
export const PresetSetParams = Type.Object(
  { preset: PresetToken, name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
  { additionalProperties: false },
);
export const VolumeParams = Type.Object(
  { volume: Type.Integer({ minimum: 0, maximum: 100 }) },
  { additionalProperties: false },
);
export const GotoParams = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    /** Metres above the launch point. */
    alt: Type.Number({ minimum: 5, maximum: 500 }),
  },
  { additionalProperties: false },
);
export type GotoParams = Static<typeof GotoParams>;
export const ModeParams = Type.Object(
  { mode: Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,31}$', description: 'flight mode name, e.g. LOITER' }) },
  { additionalProperties: false },
);

export const StreamStartParams = Type.Object(
  {
    stream: StreamNameSchema,
    /** The hub's name for this push; the gateway connects to `edgeStreamPath(session)`. */
    session: SessionId,
    /**
     * Several hubs: the base URL of the hub that streams this camera (its `cluster.advertiseUrl`);
     * the gateway pushes there instead of to its own `video.hubUrl` (a load balancer would send the
     * push to any hub). Never from https to http: the push carries the gateway's credential.
     */
    hub: Type.Optional(Type.String({ pattern: String.raw`^https?://[^\s/?#]+/?$`, maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type StreamStartParams = Static<typeof StreamStartParams>;
export const StreamStopParams = Type.Object({ session: SessionId }, { additionalProperties: false });
export const SnapshotParams = Type.Object(
  { upload: SessionId, stream: Type.Optional(StreamNameSchema) },
  { additionalProperties: false },
);
export const DiscoverParams = Type.Object(
  {
    timeoutMs: Type.Integer({ minimum: 200, maximum: 10_000, default: 3000 }),
    /** Extra unicast probe targets (host:port) beside the LAN multicast group. */
    targets: Type.Optional(
      Type.Array(Type.String({ pattern: String.raw`^[A-Za-z0-9.:\[\]-]{1,64}:\d{1,5}$` }), { maxItems: 16 }),
    ),
  },
  { additionalProperties: false },
);

const action = (spec: Omit<ActionSpec, 'maxTimeoutMs'> & { maxTimeoutMs?: number }): ActionSpec => ({
  maxTimeoutMs: 60_000,
  ...spec,
});

export const ACTIONS = {
  ping: action({
    scope: 'gateway',
    kinds: [],
    params: NoParams,
    timeoutMs: 5000,
    description: 'the gateway answers with its version',
  }),
  'ptz.move': action({
    scope: 'device',
    kinds: ['camera'],
    params: PtzMoveParams,
    timeoutMs: 5000,
    description: 'continuous pan/tilt/zoom for a while',
  }),
  'ptz.stop': action({
    scope: 'device',
    kinds: ['camera'],
    params: NoParams,
    timeoutMs: 5000,
    description: 'stop any PTZ movement',
  }),
  'ptz.preset.goto': action({
    scope: 'device',
    kinds: ['camera'],
    params: PresetParams,
    timeoutMs: 10_000,
    description: 'turn to a stored preset',
  }),
  'ptz.preset.set': action({
    scope: 'device',
    kinds: ['camera'],
    params: PresetSetParams,
    timeoutMs: 10_000,
    description: 'store the current position as a preset',
  }),
  'ptz.preset.list': action({
    scope: 'device',
    kinds: ['camera'],
    params: NoParams,
    timeoutMs: 10_000,
    description: 'list the stored presets',
  }),
  'stream.start': action({
    scope: 'device',
    kinds: ['camera', 'drone'],
    params: StreamStartParams,
    timeoutMs: 15_000,
    description: 'push a stream to the hub (outbound from the gateway, no transcoding)',
  }),
  'stream.stop': action({
    scope: 'device',
    kinds: ['camera', 'drone'],
    params: StreamStopParams,
    timeoutMs: 5000,
    description: 'stop pushing a stream',
  }),
  'camera.snapshot': action({
    scope: 'device',
    kinds: ['camera', 'drone'],
    params: SnapshotParams,
    timeoutMs: 15_000,
    description: 'upload one JPEG (the camera’s snapshot URI, else a frame grabbed from the stream)',
  }),
  'recording.clip': action({
    scope: 'gateway',
    kinds: [],
    params: RecordingClipParams,
    timeoutMs: 300_000,
    maxTimeoutMs: 600_000,
    description:
      'cut [from, to] of a camera’s recording on the gateway into an MP4 (-c copy) and upload it, paced, to the hub',
  }),
  'camera.discover': action({
    scope: 'gateway',
    kinds: [],
    params: DiscoverParams,
    timeoutMs: 15_000,
    description: 'WS-Discovery on the village LAN; the gateway is the hub’s discovery proxy',
  }),
  'gateway.restart': action({
    scope: 'gateway',
    kinds: [],
    params: NoParams,
    timeoutMs: 5000,
    description: 'the agent answers, then restarts in place (adapters, uplink, outbox reopened)',
  }),
  'gateway.logs': action({
    scope: 'gateway',
    kinds: [],
    params: LogTailParams,
    timeoutMs: 5000,
    description: 'the last log lines of the agent (at most 500, 128 KiB)',
  }),
  'speaker.volume': action({
    scope: 'device',
    kinds: ['speaker'],
    params: VolumeParams,
    timeoutMs: 5000,
    description: 'set the loudspeaker volume',
  }),
  'speaker.power': action({
    scope: 'device',
    kinds: ['speaker'],
    params: Type.Object({ on: Type.Boolean() }, { additionalProperties: false }),
    timeoutMs: 5000,
    description: 'switch the loudspeaker on or off (its amplifier)',
  }),
  'speaker.play': action({
    scope: 'device',
    kinds: ['speaker'],
    params: SpeakerPlayParams,
    timeoutMs: 15_000,
    description:
      'play a broadcast (text-to-speech, a clip or live talk) at a priority; answered when it starts or is queued',
  }),
  'speaker.stop': action({
    scope: 'device',
    kinds: ['speaker'],
    params: SpeakerStopParams,
    timeoutMs: 5000,
    description: 'stop a broadcast on this speaker',
  }),
  'drone.rtl': action({
    scope: 'device',
    kinds: ['drone'],
    params: NoParams,
    timeoutMs: 10_000,
    description: 'return to launch',
  }),
  'drone.hold': action({
    scope: 'device',
    kinds: ['drone'],
    params: NoParams,
    timeoutMs: 10_000,
    description: 'hold position (loiter)',
  }),
  'drone.land': action({
    scope: 'device',
    kinds: ['drone'],
    params: NoParams,
    timeoutMs: 10_000,
    description: 'land where it is',
  }),
  'drone.goto': action({
    scope: 'device',
    kinds: ['drone'],
    params: GotoParams,
    timeoutMs: 10_000,
    description: 'fly to a point and hold there',
  }),
  'drone.mode': action({
    scope: 'device',
    kinds: ['drone'],
    params: ModeParams,
    timeoutMs: 10_000,
    description: 'set the flight mode',
  }),
} as const satisfies Record<string, ActionSpec>;

export type ActionNameKnown = keyof typeof ACTIONS;
export const ACTION_NAMES = Object.keys(ACTIONS) as ActionNameKnown[];

export function isKnownAction(name: string): name is ActionNameKnown {
  return Object.hasOwn(ACTIONS, name);
}

/** The capability a device advertises for each action it takes. */
export function actionCapability(name: string): string {
  return `cmd.${name}`;
}
