/**
 * The video contract. Video never rides MQTT: villages sit behind 4G/carrier NAT, so on the first
 * viewer the hub sends `stream.start` to the gateway (the command path), and the gateway opens an
 * outbound, authenticated WebSocket to the hub on the hub's own port and pushes the camera's stream
 * without transcoding (GB/T 28181's model: the platform invites, the device pushes).
 *
 * Edge → hub push (`edgeStreamPath(session)`): a WebSocket upgrade with HTTP Basic authentication
 * by the gateway's own credential (its MQTT username and password), for a session the hub named in
 * `stream.start`. Binary messages carry fragmented MP4 (ISO BMFF: `ftyp` + `moov`, then `moof` +
 * `mdat` pairs), H.264, in any chunking. The gateway reconnects with backoff while the session
 * lasts; a reconnect starts again with `ftyp` + `moov`.
 *
 * Snapshots (`edgeSnapshotPath(upload)`): the gateway POSTs one `image/jpeg` body for an upload id
 * the hub named in `camera.snapshot`, with the same authentication.
 *
 * Hub → browser (`VIDEO_WS_PATH`): a WebSocket authenticated by a short-lived stream token for one
 * camera stream (`POST /api/video/tokens`); the hub sends `VideoServerMessage` JSON text messages and
 * binary media: fMP4 fragments (format `mse`) or MPEG-TS with MPEG-1 video (format `jsmpeg`).
 */
import { type Static, Type } from '@sinclair/typebox';

export const STREAM_NAMES = ['main', 'sub'] as const;
export type StreamName = (typeof STREAM_NAMES)[number];
export const StreamNameSchema = Type.Union([Type.Literal('main'), Type.Literal('sub')]);

/** How the browser plays: fMP4 into Media Source Extensions (no transcoding) or MPEG-1 for JSMpeg. */
export const VIDEO_FORMATS = ['mse', 'jsmpeg'] as const;
export type VideoFormat = (typeof VIDEO_FORMATS)[number];

/** Session and upload ids are the hub's, random, and appear in URL paths. */
export const SESSION_PATTERN = '^[A-Za-z0-9_-]{16,64}$';
export const SessionId = Type.String({ pattern: SESSION_PATTERN });

export const edgeStreamPath = (session: string) => `/api/edge/streams/${session}`;
export const edgeSnapshotPath = (upload: string) => `/api/edge/snapshots/${upload}`;
export const VIDEO_WS_PATH = '/api/video/ws';

/** Largest single WebSocket message the hub takes from a gateway, and the largest snapshot. */
export const MAX_PUSH_MESSAGE_BYTES = 1024 * 1024;
export const MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024;

/** What a tile shows: waiting for the first frame, playing, no data for a while, cannot play. */
export const STREAM_STATES = ['connecting', 'live', 'stalled', 'offline'] as const;
export type StreamState = (typeof STREAM_STATES)[number];

export const VideoServerMessage = Type.Union([
  Type.Object(
    {
      type: Type.Literal('state'),
      state: Type.Union(STREAM_STATES.map((s) => Type.Literal(s))),
      reason: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  /** Format `mse`: the codec string for `MediaSource.addSourceBuffer`; the init segment follows. */
  Type.Object(
    {
      type: Type.Literal('init'),
      mime: Type.String(),
      width: Type.Optional(Type.Integer()),
      height: Type.Optional(Type.Integer()),
      /** The hub re-encodes this camera's stream to H.264 for this viewer (its codec, e.g. `h265`). */
      transcoded: Type.Optional(Type.Literal('h265')),
    },
    { additionalProperties: false },
  ),
]);
export type VideoServerMessage = Static<typeof VideoServerMessage>;

export const VideoTokenRequest = Type.Object(
  {
    device: Type.String({ minLength: 3, maxLength: 130, description: '`{gateway}.{device}`' }),
    stream: StreamNameSchema,
  },
  { additionalProperties: false },
);
export type VideoTokenRequest = Static<typeof VideoTokenRequest>;

export const VideoTokenResponse = Type.Object({
  token: Type.String(),
  expiresAt: Type.Integer(),
  /** The WebSocket path to open with `?token=…&format=…`. */
  path: Type.String(),
  /** The stream the token is for (the one asked for, or the camera's default). */
  stream: Type.String(),
});
export type VideoTokenResponse = Static<typeof VideoTokenResponse>;

/**
 * The ffmpeg output options that make the stream both sides expect: the first video track copied
 * (no transcoding) into fragmented MP4 with an empty `moov` up front and a fragment every 100 ms
 * (one to three frames: a fragment per frame saves ~40 ms of latency but doubles the relay's
 * per-message CPU, as `npm run bench:video` measured), flushed at once. A keyframe always
 * starts a new fragment. The gateway's push and the hub's direct pull
 * both use them, after their own input options.
 */
export const FMP4_REMUX_OUTPUT = ['-map', '0:v:0', '-c', 'copy', '-an', ...fmp4Fragments()] as const;

/**
 * The fragmented-MP4 muxer options alone (after the codec options): the hub's H.264 transcoder
 * writes the same stream shape as a camera's remux, so one reader and fan-out serve both.
 */
export function fmp4Fragments(): string[] {
  return [
    '-f',
    'mp4',
    '-movflags',
    'empty_moov+default_base_moof+frag_keyframe',
    '-frag_duration',
    '100000',
    '-flush_packets',
    '1',
    'pipe:1',
  ];
}

/**
 * Input options for an RTSP camera: RTP over the RTSP connection (NAT- and loss-friendly), and a
 * small probe: the SDP's parameter sets describe an H.264 stream, and a large probe costs a second
 * or more before the first frame. `probeBytes` grows on a retry for cameras whose SDP says less.
 */
export function rtspInputArgs(url: string, probeBytes = 2048): string[] {
  return [
    '-rtsp_transport',
    'tcp',
    '-fflags',
    'nobuffer',
    '-probesize',
    String(probeBytes),
    '-analyzeduration',
    probeBytes > 2048 ? '2000000' : '0',
    '-i',
    url,
  ];
}
