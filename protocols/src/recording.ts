/**
 * Recording at the village: what a gateway tells the hub about the video it keeps (the retained
 * `…/dev/{device}/recordings` index and the heartbeat's `recording` block), the clip a hub pulls for
 * an alarm or incident (`recording.clip`), and the REST answers about both.
 *
 * The gateway keeps a bounded ring buffer of `-c copy` segments per camera; the hub never moves
 * video to learn what exists: the index carries time ranges, and video crosses the uplink only as a
 * clip asked for by an alarm or incident.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Id, RecorderStateSchema, RecordingRange, Timestamp } from './schemas.ts';
import { StreamNameSchema } from './video.ts';

/** The event a camera's recorder raises when it stops (data `state: 'end'` when it records again). */
export const RECORDING_STOPPED_EVENT = 'recording_stopped';

/** The longest clip a hub may pull (ms). */
export const MAX_CLIP_MS = 10 * 60_000;

/** `recording.clip`: the gateway cuts [from, to] of its recording into an MP4 and uploads it. */
export const RecordingClipParams = Type.Object(
  {
    /** The camera (a device of this gateway). */
    device: Id,
    stream: Type.Optional(StreamNameSchema),
    from: Timestamp,
    to: Timestamp,
    /** The upload id the hub made for this clip (`PUT /api/recordings/uploads/{upload}`). */
    upload: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }),
  },
  { additionalProperties: false },
);
export type RecordingClipParams = Static<typeof RecordingClipParams>;

/** The REST answer of `GET /api/cameras/:key/recordings`. */
export const RecordingIndexView = Type.Object({
  device: Type.String(),
  site: Type.String(),
  stream: Type.Union([StreamNameSchema, Type.Null()]),
  state: Type.Union([RecorderStateSchema, Type.Null()]),
  ranges: Type.Array(RecordingRange),
  /** Gaps between the ranges held (what the gateway lost or never recorded). */
  gaps: Type.Array(RecordingRange),
  segments: Type.Integer(),
  bytes: Type.Integer(),
  deleted: Type.Integer(),
  /** When the gateway last reported (null: it never has). */
  updatedAt: Type.Union([Type.Integer(), Type.Null()]),
});
export type RecordingIndexView = Static<typeof RecordingIndexView>;

/** An incident's (or alarm's) clip as the hub holds it. */
export const EVIDENCE_STATES = ['pending', 'pulling', 'stored', 'failed'] as const;
export type EvidenceState = (typeof EVIDENCE_STATES)[number];

export const EvidenceView = Type.Object({
  id: Type.Integer(),
  device: Type.String(),
  site: Type.String(),
  alarm: Type.Union([Type.Integer(), Type.Null()]),
  incident: Type.Union([Type.Integer(), Type.Null()]),
  from: Type.Integer(),
  to: Type.Integer(),
  state: Type.Union(EVIDENCE_STATES.map((s) => Type.Literal(s))),
  /** SHA-256 of the MP4 (hex), once stored. */
  sha256: Type.Union([Type.String(), Type.Null()]),
  bytes: Type.Union([Type.Integer(), Type.Null()]),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  attempts: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.Integer(),
});
export type EvidenceView = Static<typeof EvidenceView>;

/** A ranges list → the gaps between consecutive ranges. */
export function gapsOf(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const gaps: Array<[number, number]> = [];
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1] as readonly [number, number];
    const next = ranges[i] as readonly [number, number];
    if (next[0] > prev[1]) gaps.push([prev[1], next[0]]);
  }
  return gaps;
}

/** Where a gateway uploads a clip the hub asked for (`PUT`, `video/mp4`, the gateway's credential). */
export function edgeRecordingPath(upload: string): string {
  return `/api/edge/recordings/${encodeURIComponent(upload)}`;
}

/** A one-use, short-lived token to download (or play) one stored clip. */
export const EvidenceToken = Type.Object({
  token: Type.String(),
  expiresAt: Type.Integer(),
  /** `GET` it: the MP4 (once). */
  path: Type.String(),
});
export type EvidenceToken = Static<typeof EvidenceToken>;
