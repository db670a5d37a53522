/**
 * Ingest: every MQTT message under the contract's root goes through
 * topic parse → size → UTF-8 JSON → schema → timestamp sanity → gateway check → dedup by
 * (gateway, lane, epoch, seq) → write buffer and registry.
 *
 * Nothing is acknowledged before it is stored. An accepted message's ack is held until the batch
 * holding it, and the dedup marks covering it, are committed in one transaction; a batch is written
 * as soon as the event loop turns (so the broker's in-flight window toward the hub, not a timer,
 * paces throughput) or earlier at `flushMaxRows`. A rejected or duplicate message is acknowledged at
 * once: there is nothing to store, and a redelivery would be rejected again.
 *
 * When the store fails, batches are retried with backoff and their acks stay held. Past
 * `maxBacklogRows` the hub stops taking messages: it reports `saturated`, the owner disconnects from
 * the broker (which keeps queueing for the hub's persistent session), and messages still arriving
 * are left unacknowledged (counted as `store_failed`) for the broker to redeliver. When the backlog
 * is stored, `resumed` is reported and the owner reconnects.
 *
 * Retained messages: only current-state kinds (state, meta, availability) may be retained; any other
 * kind arriving with the retain flag is refused and cleared from the broker. A retained copy the hub
 * already has is applied to the registry by timestamp and acknowledged without counting it. The hub
 * subscribes only when the broker holds no session for it, so a replayed copy never arrives ahead
 * of a queued backlog (where it would move the dedup window past messages still to come).
 *
 * A bad message is rejected, counted by reason and logged at most once per second per gateway and
 * reason; nothing throws out of `handle`. Registry updates run after the rows are buffered and each
 * in its own try/catch, so a failing listener never costs accepted data.
 */
import {
  type CommandResult,
  type ConfigResult,
  type DeviceAvailability,
  type DeviceEvent,
  type DeviceKind,
  type DeviceMeta,
  type GatewayState,
  laneOf,
  type ParsedTopic,
  parseDeviceKey,
  parseTopic,
  type RecordingIndex,
  type RejectReason,
  type Telemetry,
  type TopicKind,
} from '@qianliyan/protocols';
import { decodePayload } from '@qianliyan/protocols/validate';
import type { FastifyBaseLogger as Logger } from 'fastify';
import { claimKey, type MessageId } from '../cluster/ingest-claims.ts';
import type { Ack } from '../mqtt/held-pubacks.ts';
import type { EventRecord, TelemetryRecord, TimeSeriesStore } from '../stores/timeseries.ts';
import type { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';
import type { SeqTracker } from './seq-tracker.ts';
import { ThrottledLog } from './throttled-log.ts';
import { TokenBucket } from './token-bucket.ts';

export interface IngestOptions {
  maxPayloadBytes: number;
  maxFutureMs: number;
  flushMaxRows: number;
  /** Held acks at which the batch is written at once: the broker's in-flight window toward the hub. */
  ackWindow: number;
  /** Otherwise batches are written at most this often. */
  flushMinIntervalMs: number;
  maxBacklogRows: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** Devices one gateway may register; a `meta` for one more is refused (`device_quota`). */
  maxDevicesPerGateway: number;
  /**
   * Messages per second per gateway, enforced here only behind an external broker (the embedded
   * broker slows a fast gateway down instead): the excess is dropped and counted `rate_limited`.
   */
  rateLimit?: { perSecond: number; burst: number };
  /**
   * Several hubs behind a shared subscription: duplicates are found by each message's identity in
   * the shared database when its batch is stored (cluster/ingest-claims.ts), not by this hub's own
   * high-water marks, which see only the share of each lane the broker dealt to it.
   */
  storeOnce?: (ids: MessageId[], write: (fresh: Set<string>) => Promise<void>) => Promise<void>;
}

export interface IngestHooks {
  /** The backlog is full: stop taking messages (disconnect from the broker). */
  saturated(): void;
  /** The backlog is stored: take messages again. */
  resumed(): void;
  /** A retained message was refused: the broker should forget it (publish an empty retained). */
  clearRetained(topic: string): void;
  /** A gateway answered a command. */
  commandResult(gateway: string, result: CommandResult): void;
  /** A gateway reported what it holds of one camera's recording. */
  recordingIndex?(site: string, gateway: string, device: string, index: RecordingIndex): void;
  /** A gateway reported on a config version. */
  configResult(gateway: string, result: ConfigResult): void;
  /**
   * Whether a gateway of `site` may place a device of `kind` at `pos` (its own site, see
   * site-bounds.ts); a reason when it may not.
   */
  placeAllowed?(
    site: string,
    kind: DeviceKind | undefined,
    pos: { lat: number; lon: number },
  ): string | undefined;
}

/** Message kinds that may be retained on the broker: the current state of a gateway or a device. */
const RETAINABLE: ReadonlySet<TopicKind> = new Set(['state', 'meta', 'availability', 'recordings']);

/** SQLite's "database or disk is full", or the file system's ENOSPC (spool, WAL). */
function isDiskFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return (
    e?.code === 'SQLITE_FULL' ||
    e?.code === 'ENOSPC' ||
    (typeof e?.message === 'string' && /disk is full|ENOSPC|no space left/i.test(e.message))
  );
}

export class IngestService {
  private telemetry: TelemetryRecord[] = [];
  private events: EventRecord[] = [];
  private acks: Ack[] = [];
  /** Cluster only: the claim key of each buffered row ('' for the hub's own events), and the ids. */
  private telemetryIds: string[] = [];
  private eventIds: string[] = [];
  private ids: MessageId[] = [];
  private flushScheduled = false;
  private lastFlushAt = 0;
  private flushing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private saturated = false;
  private diskFull = false;
  private stopped = false;
  private readonly rejectLog: ThrottledLog;
  /** Gateways allowed to publish, with their site; refreshed when credentials change. */
  private knownGateways = new Map<string, string>();
  private gatewaysReadAt = 0;
  private readonly rates = new Map<string, TokenBucket>();
  /** Label children resolved once: prom-client hashes labels on every `inc({...})`. */
  private readonly counted: { ingested: Record<TopicKind, { inc(n?: number): void }> };

  constructor(
    private readonly options: IngestOptions,
    private readonly store: TimeSeriesStore,
    private readonly listGateways: () => Array<{ id: string; site: string }>,
    private readonly registry: Registry,
    private readonly seqs: SeqTracker,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
    private readonly hooks: IngestHooks,
  ) {
    this.retryDelay = options.retryMinMs;
    this.rejectLog = new ThrottledLog(log, 1000);
    const kinds: TopicKind[] = [
      'state',
      'meta',
      'availability',
      'recordings',
      'telemetry',
      'event',
      'cmd',
      'cmdResult',
      'config',
      'configResult',
    ];
    this.counted = {
      ingested: Object.fromEntries(kinds.map((kind) => [kind, metrics.ingested.labels({ kind })])) as Record<
        TopicKind,
        { inc(n?: number): void }
      >,
    };
  }

  start(): void {
    this.refreshGateways();
  }

  /** Stores what is buffered (one last try) and stops retrying. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.flush();
  }

  /** The highest seq accepted from a gateway's lane (for tests and diagnostics). */
  seqHighWater(gateway: string, lane: 'control' | 'bulk' = 'bulk'): number | undefined {
    return this.seqs.highWater(gateway, lane);
  }

  /** Rows accepted and not yet stored. */
  get backlog(): number {
    return this.telemetry.length + this.events.length;
  }

  get isSaturated(): boolean {
    return this.saturated;
  }

  /** The store's disk is full: nothing more is stored (or acknowledged) until space returns. */
  get isDiskFull(): boolean {
    return this.diskFull;
  }

  refreshGateways(): void {
    this.gatewaysReadAt = Date.now();
    this.knownGateways = new Map(this.listGateways().map((g) => [g.id, g.site]));
    for (const id of this.rates.keys()) if (!this.knownGateways.has(id)) this.rates.delete(id);
  }

  /**
   * Records an event the hub itself raises about a device (a geofence exit…): stored with the
   * device's events and applied to its live state, like one the gateway sent. (seq 0: not a gateway's.)
   */
  recordHubEvent(
    key: string,
    type: string,
    severity: DeviceEvent['severity'],
    data: Record<string, unknown>,
  ): void {
    const parsed = parseDeviceKey(key);
    if (!parsed) throw new Error(`not a device key: ${key}`);
    const { gateway, device } = parsed;
    const ts = Date.now();
    this.events.push({ device: key, gateway, seq: 0, ts, type, severity, data });
    if (this.options.storeOnce) this.eventIds.push('');
    this.registry.applyEvent(gateway, device, { seq: 0, epoch: 'hub', ts, type, severity, data });
    this.scheduleFlush();
  }

  /** Forgets a deleted gateway's dedup windows. */
  forgetGateway(gateway: string): void {
    this.seqs.forget(gateway);
    this.refreshGateways();
  }

  /**
   * Handles one MQTT message. `retained` is the PUBLISH retain flag as delivered to the hub; `ack`
   * sends its PUBACK and is called once the message is stored (or at once when there is nothing to
   * store); it is never called while the hub cannot take the message.
   */
  handle(topic: string, payload: Buffer, retained: boolean, ack: Ack): void {
    if (this.saturated) {
      // Left unacknowledged: the broker redelivers it after the hub reconnects.
      this.metrics.rejected.inc({ reason: 'store_failed' });
      return;
    }
    let verdict: 'ack' | 'hold';
    try {
      verdict = this.accept(topic, payload, retained);
    } catch (err) {
      // A bug in the pipeline before buffering: the message is dropped and the failure is visible.
      this.metrics.ingestErrors.inc({ step: 'accept' });
      this.log.error({ err, topic }, 'ingest failed on a message');
      verdict = 'ack';
    }
    if (verdict === 'ack') ack();
    else {
      this.acks.push(ack);
      this.scheduleFlush();
    }
  }

  /** Returns 'hold' when the message was accepted and its ack waits for the store. */
  private accept(topic: string, payload: Buffer, retained: boolean): 'ack' | 'hold' {
    const parsed = parseTopic(topic);
    if (!parsed) return this.reject('unknown_topic', topic, undefined, 'not a contract topic');
    // The hub's own messages to gateways: commands, and desired configs (retained, replayed to it).
    if (parsed.kind === 'cmd' || parsed.kind === 'config') return 'ack';
    if (payload.byteLength === 0 && retained) return 'ack'; // a cleared retained message
    // By topic alone, before decoding: a kind that may not be retained is refused whatever it holds.
    if (retained && !RETAINABLE.has(parsed.kind))
      return this.reject(
        'retained_refused',
        topic,
        parsed.gateway,
        `${parsed.kind} may not be retained`,
        true,
      );
    const decoded = decodePayload(parsed.kind, payload, {
      maxBytes: this.options.maxPayloadBytes,
      maxFutureMs: this.options.maxFutureMs,
    });
    if (!decoded.ok) return this.reject(decoded.reason, topic, parsed.gateway, decoded.detail, retained);
    let site = this.knownGateways.get(parsed.gateway);
    // Another hub of a cluster may have registered the gateway a moment ago: look again, at most
    // once a second (an unregistered client cannot make this hub read the table on every message).
    if (site !== parsed.site && Date.now() - this.gatewaysReadAt >= 1000) {
      this.refreshGateways();
      site = this.knownGateways.get(parsed.gateway);
    }
    if (site !== parsed.site)
      return this.reject(
        'unknown_gateway',
        topic,
        parsed.gateway,
        `gateway ${parsed.gateway} is not registered at ${parsed.site}`,
        retained,
      );
    if (this.options.rateLimit && !retained) {
      let bucket = this.rates.get(parsed.gateway);
      if (!bucket) {
        bucket = new TokenBucket(this.options.rateLimit.perSecond, this.options.rateLimit.burst);
        this.rates.set(parsed.gateway, bucket);
      }
      if (!bucket.take())
        return this.reject(
          'rate_limited',
          topic,
          parsed.gateway,
          'more messages than the gateway’s rate allows',
        );
    }
    if (parsed.kind === 'meta' && parsed.device && !this.registry.hasDevice(parsed.gateway, parsed.device)) {
      const count = this.registry.deviceCountOf(parsed.gateway);
      if (count >= this.options.maxDevicesPerGateway)
        return this.reject(
          'device_quota',
          topic,
          parsed.gateway,
          `gateway already has ${count} devices (quota ${this.options.maxDevicesPerGateway})`,
          true,
        );
    }
    const value = decoded.value;
    const misplaced = this.misplaced(parsed, value);
    if (misplaced) return this.reject('outside_site', topic, parsed.gateway, misplaced, retained);
    let id: MessageId | undefined;
    if ('seq' in value && this.options.storeOnce) {
      // Judged when stored, against what every hub stored (see storeOnce).
      id = { gateway: parsed.gateway, lane: laneOf(parsed.kind), epoch: value.epoch, seq: value.seq };
    } else if ('seq' in value) {
      const verdict = this.seqs.check(parsed.gateway, laneOf(parsed.kind), value.epoch, value.seq);
      if (!verdict.accept) {
        // A retained copy the hub already has (replayed on a fresh subscription): current state,
        // applied if newer, not a rejection.
        if (retained) {
          this.applySafely('retained', parsed, value, true);
          return 'ack';
        }
        const detail =
          verdict.reason === 'duplicate'
            ? `seq ${value.seq} already accepted`
            : `epoch ${value.epoch} was replaced by a newer outbox`;
        return this.reject(verdict.reason, topic, parsed.gateway, detail);
      }
      if (verdict.gap > 0) this.metrics.gaps.inc(verdict.gap);
    }
    this.counted.ingested[parsed.kind].inc();
    this.buffer(parsed, value, id);
    this.applySafely(parsed.kind, parsed, value, retained);
    return 'hold';
  }

  /**
   * A position outside the gateway's own site, in a descriptor or in telemetry (drones, trackers):
   * the whole message is refused, so nothing of a device placed in another village is stored,
   * drawn or acted on.
   */
  private misplaced(parsed: ParsedTopic, value: unknown): string | undefined {
    const check = this.hooks.placeAllowed;
    if (!check || !parsed.device) return undefined;
    if (parsed.kind === 'meta') {
      const meta = value as DeviceMeta;
      return check(parsed.site, meta.kind, meta.position);
    }
    if (parsed.kind !== 'telemetry') return undefined;
    const t = value as Telemetry;
    const kind = this.registry.getDevice(`${parsed.gateway}.${parsed.device}`)?.kind;
    for (const s of 'samples' in t ? t.samples : [t]) {
      const { lat, lon } = s.values;
      if (typeof lat === 'number' && typeof lon === 'number') {
        const why = check(parsed.site, kind, { lat, lon });
        if (why) return why;
      }
    }
    return undefined;
  }

  /** Rows to store: telemetry samples and events. */
  private buffer(parsed: ParsedTopic, value: unknown, id: MessageId | undefined): void {
    const { site, gateway, device } = parsed;
    if (!device) return;
    const key = `${gateway}.${device}`;
    const kind = this.registry.getDevice(key)?.kind;
    const claim = id && (parsed.kind === 'telemetry' || parsed.kind === 'event') ? claimKey(id) : undefined;
    if (id && claim) this.ids.push(id);
    if (parsed.kind === 'telemetry') {
      const t = value as Telemetry;
      const samples = 'samples' in t ? t.samples : [{ ts: t.ts, values: t.values }];
      for (const s of samples) {
        this.telemetry.push({ device: key, gateway, site, kind, seq: t.seq, ts: s.ts, values: s.values });
        if (claim !== undefined) this.telemetryIds.push(claim);
      }
    } else if (parsed.kind === 'event') {
      if (claim !== undefined) this.eventIds.push(claim);
      const e = value as DeviceEvent;
      this.events.push({
        device: key,
        gateway,
        site,
        kind,
        seq: e.seq,
        ts: e.ts,
        type: e.type,
        severity: e.severity,
        data: e.data ?? null,
      });
    }
    const rows = this.backlog;
    this.metrics.storeBacklog.set(rows);
    if (rows >= this.options.flushMaxRows) void this.flush();
    if (rows >= this.options.maxBacklogRows && !this.saturated) {
      this.saturated = true;
      this.log.error({ rows }, 'store backlog full: taking no more messages until it is stored');
      this.hooks.saturated();
    }
  }

  /**
   * Live state: the registry (and through it the map). Runs after the rows are buffered. `retained`:
   * the copy may be older than what the registry holds, so it is compared by timestamp.
   */
  private apply(parsed: ParsedTopic, value: unknown, retained: boolean): void {
    const { site, gateway, device } = parsed;
    switch (parsed.kind) {
      case 'state':
        this.registry.applyState(site, gateway, value as GatewayState, retained);
        return;
      case 'meta':
        if (device) this.registry.applyMeta(site, gateway, device, value as DeviceMeta, retained);
        return;
      case 'availability':
        if (device) this.registry.applyAvailability(gateway, device, value as DeviceAvailability, retained);
        return;
      case 'telemetry': {
        if (!device) return;
        const t = value as Telemetry;
        const samples = 'samples' in t ? t.samples : [{ ts: t.ts, values: t.values }];
        for (const s of samples) this.registry.applyTelemetry(gateway, device, s.ts, s.values);
        return;
      }
      case 'event':
        if (device) this.registry.applyEvent(gateway, device, value as DeviceEvent);
        return;
      case 'cmdResult':
        this.hooks.commandResult(gateway, value as CommandResult);
        return;
      case 'recordings':
        if (device) this.hooks.recordingIndex?.(site, gateway, device, value as RecordingIndex);
        return;
      case 'configResult':
        this.hooks.configResult(gateway, value as ConfigResult);
        return;
      default:
        return;
    }
  }

  /**
   * Applies an accepted message to live state (the gateway is alive; then the registry), inside its
   * own try/catch. (Arguments instead of a closure: this runs for every message.)
   */
  private applySafely(step: string, parsed: ParsedTopic, value: unknown, retained: boolean): void {
    try {
      if (step !== 'retained') this.registry.touch(parsed.site, parsed.gateway);
      this.apply(parsed, value, retained);
    } catch (err) {
      this.metrics.ingestErrors.inc({ step });
      this.rejectLog.warn(
        `apply/${step}`,
        { err, step },
        'live-state update failed; the data is stored anyway',
      );
    }
  }

  /**
   * When the batch is written: at once when the held acks fill the broker's in-flight window (the
   * broker sends nothing more until some are acknowledged, so waiting gains nothing); otherwise when
   * the event loop turns, but not sooner than `flushMinIntervalMs` after the previous write. Each
   * commit rewrites every index page it touches — with many devices interleaved, nearly a page per
   * row in tiny batches — so a few milliseconds of pacing buy much larger batches.
   */
  private scheduleFlush(): void {
    if (this.acks.length >= this.options.ackWindow) {
      void this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const wait = this.lastFlushAt + this.options.flushMinIntervalMs - Date.now();
    const run = () => {
      this.flushScheduled = false;
      void this.flush();
    };
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  /** Writes what is buffered, marks included, in one batch; then releases the held acks. */
  async flush(): Promise<void> {
    this.lastFlushAt = Date.now();
    if (this.flushing) {
      await this.flushing;
      if (this.acks.length > 0 && !this.retryTimer) return this.flush();
      return;
    }
    if (this.acks.length === 0 && this.backlog === 0) return;
    const telemetry = this.telemetry;
    const events = this.events;
    const acks = this.acks;
    const marks = this.seqs.takeDirty();
    const { telemetryIds, eventIds, ids } = this;
    this.telemetry = [];
    this.events = [];
    this.acks = [];
    this.telemetryIds = [];
    this.eventIds = [];
    this.ids = [];
    const started = process.hrtime.bigint();
    let stored = telemetry.length + events.length;
    const storeOnce = this.options.storeOnce;
    const write = storeOnce
      ? storeOnce(ids, async (fresh) => {
          const isNew = (claim: string) => claim === '' || fresh.has(claim);
          const t = telemetry.filter((_, i) => isNew(telemetryIds[i] as string));
          const e = events.filter((_, i) => isNew(eventIds[i] as string));
          await this.store.write({ telemetry: t, events: e, marks: [] });
          stored = t.length + e.length;
          const duplicates = new Set(ids.map(claimKey)).size - fresh.size;
          if (duplicates > 0) this.metrics.rejected.inc({ reason: 'duplicate' }, duplicates);
        })
      : this.store.write({ telemetry, events, marks });
    this.flushing = write
      .then(
        () => {
          this.metrics.storeLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
          this.metrics.storeRows.inc(stored);
          this.metrics.storeBatches.inc();
          this.retryDelay = this.options.retryMinMs;
          if (this.diskFull) {
            this.diskFull = false;
            this.metrics.storeDiskFull.set(0);
            this.log.warn('disk space returned: storing and acknowledging again');
          }
          for (const ack of acks) ack();
        },
        (err: unknown) => {
          this.telemetry = telemetry.concat(this.telemetry);
          this.events = events.concat(this.events);
          this.acks = acks.concat(this.acks);
          this.telemetryIds = telemetryIds.concat(this.telemetryIds);
          this.eventIds = eventIds.concat(this.eventIds);
          this.ids = ids.concat(this.ids);
          this.seqs.restoreDirty(marks);
          this.metrics.storeFailures.inc();
          if (isDiskFull(err) && !this.diskFull) {
            // SQLite rolls the transaction back on SQLITE_FULL: the files stay consistent, and the
            // batch, its marks and its acks wait here; past maxBacklogRows the hub stops taking
            // messages (the broker and the gateways' outboxes keep them).
            this.diskFull = true;
            this.metrics.storeDiskFull.set(1);
            this.log.error(
              { err },
              'DISK FULL: the store refuses writes; no message is acknowledged until space returns',
            );
          }
          this.rejectLog.error(
            'store',
            { err, rows: telemetry.length + events.length, retryInMs: this.retryDelay },
            'store write failed; the batch is kept and retried, its messages unacknowledged',
          );
          this.scheduleRetry();
        },
      )
      .finally(() => {
        this.flushing = undefined;
        this.metrics.storeBacklog.set(this.backlog);
        if (this.saturated && this.backlog === 0 && this.acks.length === 0) {
          this.saturated = false;
          this.log.warn('store backlog written: taking messages again');
          this.hooks.resumed();
        }
      });
    return this.flushing;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.options.retryMaxMs, this.retryDelay * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, delay);
  }

  private reject(
    reason: RejectReason,
    topic: string,
    gateway: string | undefined,
    detail: string,
    retained = false,
  ): 'ack' {
    this.metrics.rejected.inc({ reason });
    this.rejectLog.warn(
      `${gateway ?? '?'}/${reason}`,
      { reason, topic, gateway, detail },
      'message rejected',
    );
    // A refused retained message would otherwise stay on the broker and come back on every subscribe.
    if (retained) this.hooks.clearRetained(topic);
    return 'ack';
  }
}
