/**
 * The loudspeaker contract: broadcast priorities, what a speaker plays, where audio travels.
 *
 * Audio never rides in MQTT. A clip is uploaded to the hub once, transcoded there, and named by the
 * SHA-256 of the transcoded file; a gateway fetches it by that hash over HTTP(S) with its own
 * credential (`edgeClipPath`) and caches it. Text-to-speech crosses the uplink as text and is spoken
 * on the gateway. Live talk goes browser → hub (`TALK_WS_PATH`, a one-time talk token plus the
 * sender's login in the socket's subprotocols, `talkSocketProtocols`) → the gateway's own
 * outbound WebSocket (`edgeTalkPath`) → RTP to the speakers, as 16-bit little-endian mono PCM at
 * `TALK_SAMPLE_RATE`.
 */
import { type Static, Type } from '@sinclair/typebox';
import { SESSION_PATTERN } from './video.ts';

/** Lowest first: a higher priority pre-empts a lower one playing on the same speaker. */
export const PRIORITIES = ['routine', 'notice', 'warning', 'emergency'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const priorityRank = (p: Priority): number => PRIORITIES.indexOf(p);

export const CLIP_HASH_PATTERN = '^[0-9a-f]{64}$';
export const MAX_CLIP_UPLOAD_BYTES = 10 * 1024 * 1024;
export const MAX_CLIP_SECONDS = 600;
export const MAX_TTS_CHARS = 500;
export const TALK_SAMPLE_RATE = 16_000;
/** Bytes of PCM a talk message may carry (a second of audio). */
export const MAX_TALK_MESSAGE_BYTES = TALK_SAMPLE_RATE * 2;
export const TALK_WS_PATH = '/api/broadcasts/talk';
/** The subprotocol the talk socket speaks (the hub answers with it). */
export const TALK_WS_PROTOCOL = 'qly-talk';
/** Prefix of the subprotocol entry carrying the sender's login token. */
export const BEARER_WS_PROTOCOL_PREFIX = 'qly-bearer.';
/**
 * The subprotocols a browser opens the talk socket with: the protocol, and its login token (a
 * browser cannot set an Authorization header on a WebSocket; the URL would put the token in logs).
 * The hub refuses a talk token presented by any session but the one it was issued to.
 */
export const talkSocketProtocols = (loginToken: string): string[] => [
  TALK_WS_PROTOCOL,
  `${BEARER_WS_PROTOCOL_PREFIX}${loginToken}`,
];
export const edgeClipPath = (hash: string) => `/api/edge/clips/${hash}`;
export const edgeTalkPath = (session: string) => `/api/edge/talk/${session}`;

export const PrioritySchema = Type.Union(PRIORITIES.map((p) => Type.Literal(p)));
export const AudioSource = Type.Union([
  Type.Object(
    {
      tts: Type.Object(
        {
          text: Type.String({ minLength: 1, maxLength: MAX_TTS_CHARS }),
          /** `zh`: Mandarin (espeak-ng `cmn-latn-pinyin`); `en`: English. */
          lang: Type.Union([Type.Literal('zh'), Type.Literal('en')], { default: 'zh' }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      clip: Type.Object(
        { hash: Type.String({ pattern: CLIP_HASH_PATTERN }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      live: Type.Object(
        { session: Type.String({ pattern: SESSION_PATTERN }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
]);
export type AudioSource = Static<typeof AudioSource>;

export const SpeakerPlayParams = Type.Object(
  {
    /** The hub's broadcast id; playback events carry it. */
    broadcast: Type.String({ pattern: SESSION_PATTERN }),
    priority: PrioritySchema,
    source: AudioSource,
    repeat: Type.Integer({ minimum: 1, maximum: 10, default: 1 }),
  },
  { additionalProperties: false },
);
export type SpeakerPlayParams = Static<typeof SpeakerPlayParams>;
export const SpeakerStopParams = Type.Object(
  { broadcast: Type.String({ pattern: SESSION_PATTERN }) },
  { additionalProperties: false },
);

/**
 * Device events a speaker reports per broadcast (`data.broadcast`): `playback.started`,
 * `playback.progress` (`data.playedMs`), `playback.finished` (`data.durationMs`; only when the
 * speaker confirmed it received the broadcast), `playback.interrupted` (`data.by`, the pre-empting
 * broadcast), `playback.failed` (`data.reason`: the encoder failed, or the speaker did not confirm),
 * `playback.unconfirmed` (`data.reason`: sent, but the speaker has no way to confirm — no control
 * API, or a status without a packet counter; 已发送，未确认).
 */
export const PLAYBACK_STATES = [
  'queued',
  'started',
  'finished',
  'unconfirmed',
  'interrupted',
  'failed',
] as const;
/** The states a speaker's delivery ends in. */
export const FINAL_PLAYBACK_STATES: readonly PlaybackState[] = [
  'finished',
  'unconfirmed',
  'interrupted',
  'failed',
];
export type PlaybackState = (typeof PLAYBACK_STATES)[number];

/** Who a broadcast goes to: speakers by key, zones, whole sites (villages), or everything in scope. */
export const BroadcastTargets = Type.Object(
  {
    speakers: Type.Optional(Type.Array(Type.String({ maxLength: 160 }), { maxItems: 2000 })),
    zones: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }), { maxItems: 64 })),
    sites: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 500 })),
    all: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type BroadcastTargets = Static<typeof BroadcastTargets>;

export const BroadcastRequest = Type.Object(
  {
    targets: BroadcastTargets,
    content: Type.Union([
      Type.Object(
        {
          tts: Type.Object(
            {
              text: Type.String({ minLength: 1, maxLength: MAX_TTS_CHARS }),
              lang: Type.Optional(Type.Union([Type.Literal('zh'), Type.Literal('en')])),
            },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          clip: Type.Object(
            { hash: Type.String({ pattern: CLIP_HASH_PATTERN }) },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        { live: Type.Object({}, { additionalProperties: false }) },
        { additionalProperties: false },
      ),
    ]),
    priority: PrioritySchema,
    repeat: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
    /** Later (`at`, ms epoch), and/or every day at the same time (`daily`). */
    schedule: Type.Optional(
      Type.Object(
        { at: Type.Integer({ minimum: 0 }), daily: Type.Optional(Type.Boolean()) },
        { additionalProperties: false },
      ),
    ),
    title: Type.Optional(Type.String({ maxLength: 120 })),
  },
  { additionalProperties: false },
);
export type BroadcastRequest = Static<typeof BroadcastRequest>;

export const SpeakerDelivery = Type.Object({
  state: Type.Union([...PLAYBACK_STATES, 'sending'].map((s) => Type.Literal(s))),
  at: Type.Integer(),
  reason: Type.Optional(Type.String()),
  /** The hub's error code when the hub refused to send it there (a clear message per language). */
  code: Type.Optional(Type.String()),
  /** What interrupted it: `stop` (an officer), another broadcast's id, or `shutdown`. */
  by: Type.Optional(Type.String()),
  durationMs: Type.Optional(Type.Integer()),
});
export type SpeakerDelivery = Static<typeof SpeakerDelivery>;

export const BroadcastView = Type.Object({
  id: Type.String(),
  title: Type.Optional(Type.String()),
  createdBy: Type.String(),
  createdAt: Type.Integer(),
  priority: PrioritySchema,
  content: Type.Unknown(),
  targets: BroadcastTargets,
  repeat: Type.Integer(),
  schedule: Type.Optional(Type.Object({ at: Type.Integer(), daily: Type.Optional(Type.Boolean()) })),
  state: Type.Union(['scheduled', 'sending', 'done', 'cancelled'].map((s) => Type.Literal(s))),
  sites: Type.Array(Type.String()),
  /** Per speaker key: how delivery went. */
  speakers: Type.Record(Type.String(), SpeakerDelivery),
  /**
   * Live talk: where the browser sends its microphone — a one-time token, good only for the login
   * session that created the broadcast (sent along in `talkSocketProtocols`).
   */
  talk: Type.Optional(Type.Object({ token: Type.String(), path: Type.String(), expiresAt: Type.Integer() })),
});
export type BroadcastView = Static<typeof BroadcastView>;
