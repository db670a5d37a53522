/**
 * Provisioning from the hub (issue 22): enrolment codes, a gateway's desired devices, fleet
 * operations. The MQTT payloads (`…/config`, `…/config/result`) are in schemas.ts with the other
 * topics; the REST answers an administrator's console reads are here, and in REST_ANSWERS.
 *
 * Device secrets (camera and device passwords) never travel or rest in clear beyond the request
 * that brings them: the hub seals each one to the gateway's X25519 public key (sent at enrolment)
 * and keeps only the sealed value, which only that gateway can open. See docs/provisioning.md.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ConfigDeviceResult, Id, MAX_DEVICES_PER_GATEWAY, ProvisionedDevice, Timestamp } from './schemas.ts';

/** The agent release this contract describes; the hub flags gateways below `fleet.minAgentVersion`. */
export const AGENT_VERSION = '0.3.0';

/**
 * The sealed-secret format, shared by the hub (which seals) and the gateway (which opens):
 * `v1.` + base64url(ephemeral X25519 public key (32) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)),
 * key = HKDF-SHA256(X25519(ephemeral, gateway), salt = ephemeral public ‖ gateway public, info),
 * additional data = `gateway/device/field`, so a sealed value cannot be moved to another device,
 * field or gateway.
 */
export const SEALED_SECRET = {
  prefix: 'v1.',
  info: 'qianliyan device secret v1',
  publicKeyBytes: 32,
  nonceBytes: 12,
  tagBytes: 16,
} as const;

/** The additional data a sealed secret is bound to. */
export function sealedSecretContext(gateway: string, device: string, field: string): string {
  return `${gateway}/${device}/${field}`;
}

/**
 * Fields of a device config that hold secrets, wherever they appear (top level or nested): sealed
 * by the hub, never answered back. Adapters name their secrets with one of these.
 */
export const SECRET_FIELDS: readonly string[] = ['password', 'signingKey', 'secret', 'token'];

/** How a stored secret is shown back: that it is set, never what it is. */
export const SecretSet = Type.Object({ set: Type.Literal(true) }, { additionalProperties: false });

/** `1.2.10` > `1.2.9`; missing parts are 0; non-numeric parts compare as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Enrolment code: `QLY-<hub tag>-<secret>`; the tag names the hub that issued it. */
export const ENROLMENT_CODE_PATTERN = '^QLY-[A-Z2-7]{6}-[A-Z2-7]{20}$';

/** POST /api/enrolments (admin): a one-time code for a gateway (registered here if new). */
export const EnrolmentCreate = Type.Object(
  {
    gateway: Id,
    site: Id,
    ttlMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080 })),
  },
  { additionalProperties: false },
);
export type EnrolmentCreate = Static<typeof EnrolmentCreate>;

export const EnrolmentCodeAnswer = Type.Object({
  gateway: Id,
  site: Id,
  /** Shown once: only its hash is kept. */
  code: Type.String(),
  expiresAt: Timestamp,
  /** The hub URL the gateway enrols at. */
  hubUrl: Type.String(),
  /** What to type on the gateway. */
  command: Type.String(),
  /** A QR code (SVG) of `hubUrl` and `code`, for a phone or a gateway with a camera. */
  qrSvg: Type.String(),
});
export type EnrolmentCodeAnswer = Static<typeof EnrolmentCodeAnswer>;

/** POST /api/enrol (the gateway, with its code): its MQTT identity. */
export const EnrolRequest = Type.Object(
  {
    code: Type.String({ maxLength: 64 }),
    /** The gateway's X25519 public key (raw, base64url): device secrets are sealed to it. */
    publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    agentVersion: Type.String({ maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type EnrolRequest = Static<typeof EnrolRequest>;

export const EnrolAnswer = Type.Object({
  gateway: Type.Object({ id: Id, site: Id }),
  mqtt: Type.Object({ url: Type.String(), username: Type.String(), password: Type.String() }),
  hubUrl: Type.String(),
});
export type EnrolAnswer = Static<typeof EnrolAnswer>;

/** A device as the hub answers it: secrets shown as `{set: true}`. */
export const ProvisionedDeviceView = ProvisionedDevice;

/** The gateway's last report on its config. */
export const ConfigReportView = Type.Object({
  version: Type.Integer(),
  status: Type.Union([Type.Literal('applied'), Type.Literal('refused')]),
  running: Type.Integer(),
  devices: Type.Array(ConfigDeviceResult),
  problems: Type.Array(Type.String()),
  reportedAt: Timestamp,
});
export type ConfigReportView = Static<typeof ConfigReportView>;

/** GET/PUT /api/gateways/:id/config: the desired devices (latest version) and the gateway's report. */
export const GatewayConfigView = Type.Object({
  gateway: Id,
  site: Id,
  /** 0 when no config was ever set. */
  version: Type.Integer({ minimum: 0 }),
  devices: Type.Array(ProvisionedDeviceView),
  updatedAt: Type.Union([Timestamp, Type.Null()]),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
  report: Type.Union([ConfigReportView, Type.Null()]),
});
export type GatewayConfigView = Static<typeof GatewayConfigView>;

/** PUT /api/gateways/:id/config. A secret field is a new value (string) or `{set: true}` (keep). */
export const GatewayConfigPut = Type.Object(
  {
    devices: Type.Array(ProvisionedDevice, { maxItems: MAX_DEVICES_PER_GATEWAY }),
    /** The version this edit was based on: refused (409) when another edit came in between. */
    baseVersion: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type GatewayConfigPut = Static<typeof GatewayConfigPut>;

/** One gateway in the fleet report. */
export const FleetGateway = Type.Object({
  id: Id,
  site: Id,
  online: Type.Boolean(),
  version: Type.Union([Type.String(), Type.Null()]),
  /** Below `fleet.minAgentVersion` (or no version reported): to be updated. */
  outdated: Type.Boolean(),
  enrolled: Type.Boolean(),
  startedAt: Type.Union([Timestamp, Type.Null()]),
  lastSeen: Type.Union([Timestamp, Type.Null()]),
  outboxDepth: Type.Union([Type.Integer(), Type.Null()]),
  configVersion: Type.Integer(),
  runningVersion: Type.Union([Type.Integer(), Type.Null()]),
});
export type FleetGateway = Static<typeof FleetGateway>;

/** GET /api/fleet: versions across the fleet. */
export const FleetReport = Type.Object({
  minAgentVersion: Type.String(),
  versions: Type.Record(Type.String(), Type.Integer()),
  outdated: Type.Integer(),
  gateways: Type.Array(FleetGateway),
});
export type FleetReport = Static<typeof FleetReport>;

/** GET /api/gateways/:id/logs: the gateway's last log lines (bounded at the gateway). */
export const GatewayLogTail = Type.Object({ gateway: Id, lines: Type.Array(Type.String()) });
export type GatewayLogTail = Static<typeof GatewayLogTail>;

/** POST /api/gateways/:id/discover: cameras the gateway found on its LAN. */
export const DiscoveredCamera = Type.Object({
  endpoint: Type.String(),
  xaddrs: Type.Array(Type.String()),
  hardware: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  ptz: Type.Optional(Type.Boolean()),
  /** The device id, when this gateway already runs it. */
  device: Type.Optional(Type.String()),
});
export const DiscoveryAnswer = Type.Object({ gateway: Id, cameras: Type.Array(DiscoveredCamera) });
export type DiscoveryAnswer = Static<typeof DiscoveryAnswer>;

/** Parameters of `gateway.logs`. */
export const LogTailParams = Type.Object(
  { lines: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) },
  { additionalProperties: false },
);
/** Largest log tail a gateway answers, in bytes (it rides in one MQTT message). */
export const MAX_LOG_TAIL_BYTES = 128 * 1024;
