/**
 * Provisioning from the hub (issue 22): one-time enrolment codes, each gateway's desired devices
 * (versioned, secrets sealed to the gateway's key, delivered as the retained `…/config`), the
 * gateway's reports on them, and the fleet's versions.
 *
 * Device secrets: a password arrives in clear in one PUT, is sealed to the gateway's X25519 public
 * key at once and only the sealed value is stored, published and kept; the hub cannot open it
 * again. Answers show a secret as `{set: true}`; an edit keeps it by sending `{set: true}` back.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  type ConfigResult,
  compareVersions,
  ENROLMENT_CODE_PATTERN,
  type FleetReport,
  type GatewayConfigView,
  MAX_PAYLOAD_BYTES,
  type ProvisionedDevice,
  SECRET_FIELDS,
  sealedSecretContext,
  topics,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import type { MqttClient } from 'mqtt';
import { HubError } from '../errors.ts';
import { sealSecret, x25519PublicKey } from '../security/sealed-secrets.ts';
import type { ProvisioningStore } from '../stores/provisioning-store.ts';
import type { StateDb } from '../stores/state-db.ts';
import type { AuditLog } from './audit-log.ts';
import type { EventBus } from './event-bus.ts';
import type { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const CODE_RE = new RegExp(ENROLMENT_CODE_PATTERN);
const SECRETS = new Set(SECRET_FIELDS);

function base32(bytes: Buffer, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += BASE32[(bytes[i % bytes.length] as number) & 31];
  return out;
}

export function hashCode(code: string): string {
  return createHash('sha256').update(code).digest('hex');
}

export interface ProvisioningOptions {
  codeTtlMinutes: number;
  minAgentVersion: string;
}

export interface ProvisioningDeps {
  state: StateDb;
  store: ProvisioningStore;
  registry: Registry;
  bus: EventBus;
  audit: AuditLog;
  metrics: HubMetrics;
  mqtt: MqttClient;
  log: FastifyBaseLogger;
  /** Registers a gateway without a credential (until it enrols). */
  register(id: string, site: string): void;
  /** Issues the gateway's MQTT credential (rotating any previous one); returns the password. */
  issueCredentials(id: string, site: string): Promise<string>;
}

export type EnrolRefusal = 'unknown_code' | 'used_code' | 'expired_code' | 'foreign_hub' | 'malformed';

/** What a refused enrolment tells the gateway: enough to act on, nothing about other gateways. */
const REFUSAL_TEXT: Record<EnrolRefusal, string> = {
  unknown_code: 'this enrolment code is not known to this hub (mistyped?)',
  used_code: 'this enrolment code was already used: ask the administrator for a new one',
  expired_code: 'this enrolment code has expired: ask the administrator for a new one',
  foreign_hub: 'this enrolment code was issued by another hub: enrol at the hub that issued it',
  malformed:
    'not an enrolment request: the code reads QLY-XXXXXX-XXXXXXXXXXXXXXXXXXXX and the key is a raw X25519 public key',
};

export class EnrolRefused extends HubError {
  constructor(readonly reason: EnrolRefusal) {
    super(reason === 'malformed' ? 'HUB_ERR_VALIDATION' : 'HUB_ERR_FORBIDDEN', REFUSAL_TEXT[reason]);
  }
}

export class ProvisioningService {
  private tag: string | undefined;

  constructor(
    private readonly deps: ProvisioningDeps,
    private readonly options: ProvisioningOptions,
  ) {}

  start(): void {
    this.deps.bus.on('configReported', 'provisioning', ({ gateway, result }) =>
      this.onReport(gateway, result),
    );
    // The embedded broker keeps retained messages in memory only: after a hub restart every gateway's
    // latest version is published again (the same bytes on a broker that kept them).
    for (const gateway of this.deps.store.latestVersions().keys()) this.publish(gateway);
  }

  /** This hub's tag in enrolment codes: a code names the hub (or cluster) that issued it. */
  hubTag(): string {
    if (this.tag) return this.tag;
    let tag = this.deps.state.getSetting<string>('provisioning.hubTag');
    if (!tag) {
      tag = base32(randomBytes(6), 6);
      this.deps.state.setSetting('provisioning.hubTag', tag);
    }
    this.tag = tag;
    return tag;
  }

  /** A one-time code for `gateway` (registered at `site` if new); earlier unused codes are void. */
  createCode(
    actor: string,
    gateway: string,
    site: string,
    ttlMinutes = this.options.codeTtlMinutes,
  ): { code: string; expiresAt: number } {
    const existing = this.deps.state.getGateway(gateway);
    if (existing && existing.site !== site)
      throw new HubError(
        'HUB_ERR_CONFLICT',
        `gateway ${gateway} is registered at ${existing.site}, not ${site}`,
      );
    if (!existing) this.deps.register(gateway, site);
    const now = Date.now();
    this.deps.store.voidCodes(gateway, now);
    const code = `QLY-${this.hubTag()}-${base32(randomBytes(20), 20)}`;
    const expiresAt = now + ttlMinutes * 60_000;
    this.deps.store.insertCode({
      codeHash: hashCode(code),
      gateway,
      site,
      createdBy: actor,
      createdAt: now,
      expiresAt,
    });
    this.deps.audit.append({
      actor,
      action: 'gateway.enrolment_code',
      target: gateway,
      outcome: 'ok',
      detail: { site, expiresAt, registered: !existing },
    });
    return { code, expiresAt };
  }

  /**
   * Redeems a code: the gateway gets its MQTT identity, the hub keeps its public key. A refusal is
   * counted by reason, audited with the source address, and thrown as EnrolRefused.
   */
  async enrol(
    code: string,
    publicKey: string,
    agentVersion: string,
    address: string,
  ): Promise<{ gateway: string; site: string; password: string }> {
    const refuse = (reason: EnrolRefusal, target: string | null = null): never => {
      this.deps.metrics.enrolRefused.inc({ reason });
      this.deps.log.warn({ reason, address, gateway: target ?? undefined }, 'enrolment refused');
      this.deps.audit.append({
        actor: `enrolment@${address}`.slice(0, 128),
        action: 'gateway.enrol',
        target,
        outcome: 'denied',
        // Never the code itself: a mistyped code is close to a valid one.
        detail: { reason, agentVersion: agentVersion.slice(0, 64) },
      });
      throw new EnrolRefused(reason);
    };
    if (!CODE_RE.test(code)) return refuse('malformed');
    try {
      x25519PublicKey(publicKey);
    } catch {
      return refuse('malformed');
    }
    if (code.split('-')[1] !== this.hubTag()) return refuse('foreign_hub');
    const now = Date.now();
    const redeemed = this.deps.store.redeem(hashCode(code), now, address);
    if (typeof redeemed === 'string') {
      const row = redeemed === 'unknown_code' ? undefined : this.deps.store.getCode(hashCode(code));
      return refuse(redeemed, row?.gateway ?? null);
    }
    const { gateway, site } = redeemed;
    const password = await this.deps.issueCredentials(gateway, site);
    this.deps.store.setPublicKey(gateway, publicKey, now);
    this.deps.store.voidCodes(gateway, now);
    this.deps.metrics.enrolled.inc();
    this.deps.audit.append({
      actor: `enrolment@${address}`.slice(0, 128),
      action: 'gateway.enrol',
      target: gateway,
      outcome: 'ok',
      detail: { site, agentVersion: agentVersion.slice(0, 64) },
    });
    this.deps.log.info({ gateway, site, address }, 'gateway enrolled');
    // A version set before it enrolled was sealed to no key: it is published once a key exists.
    this.publish(gateway);
    return { gateway, site, password };
  }

  /** The desired devices as an administrator sees them: secrets only as `{set: true}`. */
  view(gateway: string): GatewayConfigView {
    const gw = this.deps.state.getGateway(gateway);
    if (!gw) throw new HubError('HUB_ERR_NOT_FOUND', `no gateway ${gateway}`);
    const latest = this.deps.store.latestConfig(gateway);
    const report = this.deps.store.getReport(gateway);
    return {
      gateway,
      site: gw.site,
      version: latest?.version ?? 0,
      devices: (latest?.devices ?? []).map((d) => mask(d) as ProvisionedDevice),
      updatedAt: latest?.createdAt ?? null,
      updatedBy: latest?.createdBy ?? null,
      report: report
        ? {
            version: report.version,
            status: report.status,
            running: report.running,
            devices: report.devices,
            problems: report.problems,
            reportedAt: report.reportedAt,
          }
        : null,
    };
  }

  /**
   * A new version of a gateway's devices: new secrets sealed (kept ones carried over from the
   * latest version), stored, published retained. The gateway checks each device against its
   * adapter and refuses a bad version as a whole; the hub checks what it can say without them.
   */
  setConfig(
    actor: string,
    gateway: string,
    devices: ProvisionedDevice[],
    baseVersion: number | undefined,
  ): GatewayConfigView {
    const gw = this.deps.state.getGateway(gateway);
    if (!gw) throw new HubError('HUB_ERR_NOT_FOUND', `no gateway ${gateway}`);
    const key = this.deps.store.getPublicKey(gateway);
    if (!key)
      throw new HubError(
        'HUB_ERR_CONFLICT',
        `gateway ${gateway} has not enrolled yet: device passwords are sealed to the key it sends at enrolment`,
      );
    const ids = new Set<string>();
    for (const d of devices) {
      if (ids.has(d.id)) throw new HubError('HUB_ERR_VALIDATION', `duplicate device id ${d.id}`);
      ids.add(d.id);
    }
    // `{set: true}` keeps a device's secret from the newest version that had the device: a version
    // the gateway refused (without it) does not make the administrator type the password again.
    const previous = new Map<string, ProvisionedDevice>();
    for (const version of this.deps.store.configHistory(gateway, 50))
      for (const d of version.devices) if (!previous.has(d.id)) previous.set(d.id, d);
    const sealed = devices.map(
      (d) =>
        seal(d, previous.get(d.id), (value, path) =>
          sealSecret(key.publicKey, value, sealedSecretContext(gateway, d.id, path)),
        ) as ProvisionedDevice,
    );
    // One retained MQTT message carries the whole version: it must fit what both sides accept.
    const bytes = Buffer.byteLength(JSON.stringify({ version: 2 ** 31, ts: Date.now(), devices: sealed }));
    if (bytes > MAX_PAYLOAD_BYTES)
      throw new HubError(
        'HUB_ERR_TOO_LARGE',
        `the configuration is ${bytes} bytes sealed, over the ${MAX_PAYLOAD_BYTES} one MQTT message may carry`,
      );
    const version = this.deps.store.addConfig(gateway, baseVersion, sealed, actor, Date.now());
    if (version === undefined)
      throw new HubError(
        'HUB_ERR_CONFLICT',
        'the configuration was changed meanwhile: reload and edit again',
      );
    this.deps.audit.append({
      actor,
      action: 'gateway.config',
      target: gateway,
      outcome: 'ok',
      // Which devices, never their fields: the audit log is exported and read widely.
      detail: { version, devices: devices.map((d) => `${d.type}:${d.id}`).slice(0, 64) },
    });
    this.publish(gateway);
    return this.view(gateway);
  }

  /** Publishes the latest version (retained) for a gateway that has a key to open its secrets. */
  publish(gateway: string): void {
    const gw = this.deps.state.getGateway(gateway);
    const latest = this.deps.store.latestConfig(gateway);
    if (!gw || !latest || !this.deps.store.getPublicKey(gateway)) return;
    const body = JSON.stringify({ version: latest.version, ts: latest.createdAt, devices: latest.devices });
    this.deps.mqtt.publish(topics.config(gw.site, gateway), body, { qos: 1, retain: true }, (err) => {
      if (err)
        this.deps.log.warn(
          { err, gateway },
          'config publish failed; published again on the next change or restart',
        );
    });
  }

  /** A retired gateway's retained config is cleared and its provisioning rows dropped. */
  forget(gateway: string, site: string): void {
    this.deps.store.forgetGateway(gateway);
    this.deps.mqtt.publish(topics.config(site, gateway), Buffer.alloc(0), { qos: 1, retain: true });
  }

  private onReport(gateway: string, result: ConfigResult): void {
    this.deps.metrics.configReports.inc({ status: result.status });
    this.deps.store.saveReport({
      gateway,
      version: result.version,
      status: result.status,
      running: result.running,
      devices: result.devices,
      problems: result.problems ?? [],
      reportedAt: Date.now(),
    });
    const failed = result.devices.filter((d) => d.outcome === 'failed' || d.online === false);
    this.deps.log.info(
      { gateway, version: result.version, status: result.status, failed: failed.length },
      'gateway config report',
    );
  }

  fleet(): FleetReport {
    const latest = this.deps.store.latestVersions();
    const versions: Record<string, number> = {};
    let outdated = 0;
    const gateways = this.deps.state.listGateways().map((row) => {
      const live = this.deps.registry.getGateway(row.id);
      const version = live?.version ?? null;
      const old = version === null || compareVersions(version, this.options.minAgentVersion) < 0;
      const enrolled = row.passwordHash !== null;
      if (enrolled && old) outdated += 1;
      if (version) versions[version] = (versions[version] ?? 0) + 1;
      const report = this.deps.store.getReport(row.id);
      return {
        id: row.id,
        site: row.site,
        online: live?.online ?? false,
        version,
        outdated: enrolled && old,
        enrolled,
        startedAt: live?.startedAt ?? null,
        lastSeen: live?.lastSeen ?? null,
        outboxDepth: live?.outboxDepth ?? null,
        configVersion: latest.get(row.id) ?? 0,
        runningVersion: report ? report.running : null,
      };
    });
    this.deps.metrics.gatewaysOutdated.set(outdated);
    if (outdated > 0)
      this.deps.log.warn(
        { outdated, minAgentVersion: this.options.minAgentVersion },
        'gateways on an old agent version',
      );
    return { minAgentVersion: this.options.minAgentVersion, versions, outdated, gateways };
  }
}

type Json = unknown;

/** Secrets replaced by `{set: true}`. */
function mask(value: Json): Json {
  if (Array.isArray(value)) return value.map(mask);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRETS.has(k) && v !== undefined ? { set: true } : mask(v)]),
  );
}

/**
 * Secrets sealed: a string is a new secret; `{set: true}` keeps the previous version's sealed value at
 * the same place; anything else in a secret field is refused.
 */
function seal(
  value: Json,
  previous: Json,
  sealOne: (secret: string, path: string) => string,
  path = '',
): Json {
  if (Array.isArray(value))
    return value.map((v, i) =>
      seal(v, Array.isArray(previous) ? previous[i] : undefined, sealOne, `${path}${i}.`),
    );
  if (value === null || typeof value !== 'object') return value;
  const before = (previous && typeof previous === 'object' ? previous : {}) as Record<string, Json>;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      const at = `${path}${k}`;
      if (!SECRETS.has(k)) return [k, seal(v, before[k], sealOne, `${at}.`)];
      if (typeof v === 'string') {
        if (v.length === 0 || v.length > 1024)
          throw new HubError('HUB_ERR_VALIDATION', `${at}: a secret is 1–1024 characters`);
        return [k, { sealed: sealOne(v, at) }];
      }
      const kept = before[k] as { sealed?: unknown } | undefined;
      if (
        v &&
        typeof v === 'object' &&
        (v as { set?: unknown }).set === true &&
        Object.keys(v).length === 1
      ) {
        if (typeof kept?.sealed !== 'string')
          throw new HubError('HUB_ERR_VALIDATION', `${at}: no stored secret to keep; enter it`);
        return [k, { sealed: kept.sealed }];
      }
      throw new HubError(
        'HUB_ERR_VALIDATION',
        `${at}: a secret is a string, or {"set": true} to keep the stored one`,
      );
    }),
  );
}
