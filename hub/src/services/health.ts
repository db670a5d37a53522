/**
 * Device health → health alarms and the availability record.
 *
 * Every device and gateway is a subject. A device is **unavailable** when the gateway reports it
 * unreachable (its reason says why: `ONVIF_UNAUTHORIZED: …` → 认证失败, `VIDEO_LOST: …` → 视频丢失,
 * `MODBUS_TIMEOUT: …` → 通信中断; protocols `healthTypeOfReason`); a gateway when its session is gone
 * (last will, three missed heartbeats) or stale (silent a heartbeat and a half). Each change raises or clears the
 * subject's health alarm through the alarm service, which reopens a flapping subject's alarm
 * rather than making a new one and gives a cleared alarm its outage's duration.
 *
 * A device behind an offline gateway gets no alarm of its own — the gateway's alarm is the one
 * cause an officer can act on — but it is offline in the availability record (`health_events`,
 * the source of the 在线率 report), which counts what the duty room could see.
 *
 * After the hub starts, the registry is rebuilt from retained messages over a few seconds, and
 * every device looks offline until its gateway's state arrives: nothing is judged during
 * `startupGraceMs`; then every subject (and every health alarm left open in the database) is
 * reconciled once, and from there on each change is handled as it happens (O(1) per change: a
 * telemetry sample that changes nothing about health costs one map lookup).
 */
import { type HealthAlarmType, healthTypeOfReason, type Severity } from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import type { SqlDatabase } from '../stores/sql.ts';
import type { AlarmService } from './alarms.ts';
import type { EventBus } from './event-bus.ts';
import type { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';

/** A village cut off is the worst: nothing there is seen; one device is one blind spot. */
const SEVERITY: Record<HealthAlarmType, Severity> = {
  'health.gateway_offline': 'critical',
  'health.device_offline': 'alarm',
  'health.video_lost': 'alarm',
  'health.comm_lost': 'alarm',
  'health.credentials_refused': 'alarm',
  'health.link_lost': 'alarm',
};

interface Known {
  /** The alarm condition: the health type that is raised, or null when healthy. */
  alarm: HealthAlarmType | null;
  reason: string | null;
  /** Availability as recorded for the report. */
  online: boolean | null;
}

export interface HealthOptions {
  clock: () => number;
  startupGraceMs: number;
}

export class HealthService {
  private readonly known = new Map<string, Known>();
  private armed = false;
  private readonly startedAt: number;
  private readonly stmt;
  private readonly offs: Array<() => void> = [];

  constructor(
    db: SqlDatabase,
    private readonly registry: Registry,
    private readonly alarms: AlarmService,
    private readonly bus: EventBus,
    private readonly metrics: HubMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: HealthOptions,
  ) {
    this.startedAt = options.clock();
    this.stmt = {
      record: db.prepare<[string, string, string, number, number, string | null]>(
        'INSERT INTO health_events (subject, site, kind, ts, online, reason) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      lastRecorded: db.prepare<[], { subject: string; online: number }>(
        `SELECT h.subject, h.online FROM health_events h
           JOIN (SELECT subject, max(id) AS id FROM health_events GROUP BY subject) l ON h.id = l.id`,
      ),
      prune: db.prepare<[number]>('DELETE FROM health_events WHERE ts < ?'),
    };
  }

  start(): void {
    this.offs.push(
      this.bus.on('deviceChanged', 'health', ({ key }) => {
        if (this.armed) this.device(key);
      }),
      this.bus.on('gatewayChanged', 'health', ({ id }) => {
        if (this.armed) this.gateway(id);
      }),
      this.bus.on('gatewayRemoved', 'health', ({ id, devices }) => {
        for (const key of [id, ...devices]) {
          this.known.delete(key);
          for (const a of this.alarms.openConditions('health'))
            if (a.device === key) this.alarms.clearCondition(key, a.type, this.options.clock(), 'removed');
        }
      }),
    );
  }

  stop(): void {
    for (const off of this.offs) off();
  }

  /** The scheduler's task: arms after the start-up grace; prunes the record beyond 400 days. */
  tick(now: number): void {
    if (!this.armed && now - this.startedAt >= this.options.startupGraceMs) this.arm();
    if (now % 3_600_000 < 1000) this.stmt.prune.run(now - 400 * 86_400_000);
  }

  get isArmed(): boolean {
    return this.armed;
  }

  /** Reconciles every subject with what the database remembers, then follows changes. */
  arm(): void {
    if (this.armed) return;
    this.armed = true;
    for (const r of this.stmt.lastRecorded.all())
      this.known.set(r.subject, { alarm: null, reason: null, online: r.online === 1 });
    for (const a of this.alarms.openConditions('health')) {
      const k = this.known.get(a.device) ?? { alarm: null, reason: null, online: null };
      k.alarm = a.type as HealthAlarmType;
      k.reason = a.reason ?? null;
      this.known.set(a.device, k);
    }
    const { devices, gateways } = this.registry.subjects();
    for (const id of gateways) this.gateway(id);
    for (const key of devices) this.device(key);
    // Open health alarms of subjects the registry no longer has (deleted meanwhile).
    const present = new Set([...devices, ...gateways]);
    for (const a of this.alarms.openConditions('health'))
      if (!present.has(a.device))
        this.alarms.clearCondition(a.device, a.type, this.options.clock(), 'removed');
    this.log.info({ devices: devices.length, gateways: gateways.length }, 'device health armed');
  }

  private device(key: string): void {
    const h = this.registry.deviceHealth(key);
    if (!h) return;
    const online = h.gatewayOnline && h.unreachable === undefined;
    const alarm = h.unreachable !== undefined ? healthTypeOfReason(h.kind, h.unreachable) : null;
    this.apply(key, h.site, h.kind, online, alarm, h.unreachable ?? null);
  }

  private gateway(id: string): void {
    const g = this.registry.gatewayHealth(id);
    if (!g) return;
    const down = !g.online || g.stale;
    let reason: string | null = null;
    if (down) {
      const silentS = g.lastSeen === null ? null : Math.round((this.options.clock() - g.lastSeen) / 1000);
      reason = g.stale
        ? `GATEWAY_STALE: silent for ${silentS ?? '?'} s (offline after ${Math.round(g.timeoutMs / 1000)} s)`
        : `GATEWAY_OFFLINE: session lost${silentS !== null ? `; last heard ${silentS} s ago` : ''}`;
    }
    // Stale and offline are one outage: the reason changes, the alarm stays.
    const kindOfReason = reason?.slice(0, reason.indexOf(':')) ?? null;
    this.apply(id, g.site, 'gateway', !down, down ? 'health.gateway_offline' : null, reason, kindOfReason);
    // Its devices' availability follows (the registry announces each of them when it changes).
  }

  private apply(
    subject: string,
    site: string,
    kind: string,
    online: boolean,
    alarm: HealthAlarmType | null,
    reason: string | null,
    reasonKey: string | null = reason,
  ): void {
    const now = this.options.clock();
    let k = this.known.get(subject);
    if (!k) {
      k = { alarm: null, reason: null, online: null };
      this.known.set(subject, k);
    }
    if (k.online !== online) {
      k.online = online;
      this.stmt.record.run(subject, site, kind, now, online ? 1 : 0, reason);
      this.metrics.healthTransitions.inc({ kind, online: String(online) });
    }
    const knownKey =
      k.reason === null ? null : kind === 'gateway' ? k.reason.slice(0, k.reason.indexOf(':')) : k.reason;
    if (alarm === k.alarm && (alarm === null || knownKey === reasonKey)) return;
    if (k.alarm !== null && k.alarm !== alarm) this.alarms.clearCondition(subject, k.alarm, now);
    k.alarm = alarm;
    k.reason = reason;
    if (alarm !== null)
      this.alarms.raiseCondition(
        {
          source: 'health',
          device: subject,
          site,
          type: alarm,
          severity: SEVERITY[alarm],
          ...(reason ? { reason } : {}),
        },
        now,
      );
  }
}
