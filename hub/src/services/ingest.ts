/**
 * Ingest: every MQTT message under the contract's root goes through
 * topic parse → size → JSON → schema → timestamp sanity → gateway check → dedup by seq →
 * registry (live state) and a batched write to the time-series store.
 * A bad message is rejected, counted by reason and logged at most once per second per reason;
 * it never throws out of `handle`, so one bad publisher cannot stop ingest for the others.
 */
import {
  type DeviceEvent,
  type DeviceMeta,
  decodePayload,
  type GatewayState,
  type ParsedTopic,
  parseTopic,
  type RejectReason,
  type Telemetry,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { StateDb } from '../stores/state-db.ts';
import type { EventRecord, TelemetryRecord, TimeSeriesStore } from '../stores/timeseries.ts';
import type { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';
import type { SeqTracker } from './seq-tracker.ts';

export interface IngestOptions {
  maxPayloadBytes: number;
  maxFutureMs: number;
  flushIntervalMs: number;
  flushMaxRows: number;
}

export class IngestService {
  private telemetry: TelemetryRecord[] = [];
  private events: EventRecord[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly lastRejectLog = new Map<RejectReason, number>();
  /** Gateways allowed to publish, with their site; refreshed when credentials change. */
  private knownGateways = new Map<string, string>();

  constructor(
    private readonly options: IngestOptions,
    private readonly store: TimeSeriesStore,
    private readonly stateDb: StateDb,
    private readonly registry: Registry,
    private readonly seqs: SeqTracker,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.refreshGateways();
    this.flushTimer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush();
  }

  /** The highest seq accepted from a gateway (for tests and diagnostics). */
  seqHighWater(gateway: string): number | undefined {
    return this.seqs.highWater(gateway);
  }

  refreshGateways(): void {
    this.knownGateways = new Map(this.stateDb.listGateways().map((g) => [g.id, g.site]));
  }

  /** Handles one MQTT message. `retained` is the PUBLISH retain flag as delivered to the hub. */
  handle(topic: string, payload: Buffer, retained: boolean): void {
    try {
      this.handleUnsafe(topic, payload, retained);
    } catch (err) {
      // A bug in a handler must not take ingest down; count it like any other rejection.
      this.reject('schema', topic, `handler failed: ${(err as Error).message}`);
      this.log.error({ err, topic }, 'ingest handler failed');
    }
  }

  private handleUnsafe(topic: string, payload: Buffer, retained: boolean): void {
    const parsed = parseTopic(topic);
    if (!parsed) {
      this.reject('unknown_topic', topic, 'not a contract topic');
      return;
    }
    if (parsed.kind === 'cmd') return; // the hub's own commands to gateways
    const decoded = decodePayload(parsed.kind, payload, {
      maxBytes: this.options.maxPayloadBytes,
      maxFutureMs: this.options.maxFutureMs,
    });
    if (!decoded.ok) {
      this.reject(decoded.reason, topic, decoded.detail);
      return;
    }
    const site = this.knownGateways.get(parsed.gateway);
    if (site !== parsed.site) {
      this.reject('unknown_gateway', topic, `gateway ${parsed.gateway} is not registered at ${parsed.site}`);
      return;
    }
    const value = decoded.value as { seq?: number };

    if (retained) {
      // A retained copy replayed by the broker on (re)subscribe: current state, not a new message.
      // It is applied if newer than what the registry holds and does not move the dedup window.
      this.applyRetained(parsed, decoded.value);
      return;
    }
    if (value.seq !== undefined) {
      if (parsed.kind === 'state' && (decoded.value as GatewayState).epoch) {
        this.seqs.observeEpoch(parsed.gateway, (decoded.value as GatewayState).epoch as string, value.seq);
      }
      const verdict = this.seqs.check(parsed.gateway, value.seq);
      if (verdict.duplicate) {
        this.reject('duplicate', topic, `seq ${value.seq} already seen`);
        return;
      }
      if (verdict.gap > 0) this.metrics.gaps.inc(verdict.gap);
    }
    this.metrics.ingested.inc({ kind: parsed.kind });
    this.registry.touch(parsed.site, parsed.gateway);
    this.dispatch(parsed, decoded.value);
  }

  private applyRetained(parsed: ParsedTopic, value: unknown): void {
    if (parsed.kind === 'state')
      this.registry.applyState(parsed.site, parsed.gateway, value as GatewayState, true);
    else if (parsed.kind === 'meta' && parsed.device)
      this.registry.applyMeta(parsed.site, parsed.gateway, parsed.device, value as DeviceMeta, true);
    this.metrics.ingested.inc({ kind: parsed.kind });
  }

  private dispatch(parsed: ParsedTopic, value: unknown): void {
    const { site, gateway, device } = parsed;
    switch (parsed.kind) {
      case 'state':
        this.registry.applyState(site, gateway, value as GatewayState, false);
        return;
      case 'meta':
        if (device) this.registry.applyMeta(site, gateway, device, value as DeviceMeta, false);
        return;
      case 'telemetry':
        if (device) this.onTelemetry(gateway, device, value as Telemetry);
        return;
      case 'event':
        if (device) this.onEvent(gateway, device, value as DeviceEvent);
        return;
      case 'cmdResult':
        // Commands arrive with a later issue; the result is validated and counted already.
        this.log.debug({ gateway, result: value }, 'command result');
        return;
      default:
        return;
    }
  }

  private onTelemetry(gateway: string, device: string, t: Telemetry): void {
    const key = `${gateway}.${device}`;
    const samples = 'samples' in t ? t.samples : [{ ts: t.ts, values: t.values }];
    for (const s of samples) {
      this.telemetry.push({ device: key, gateway, seq: t.seq, ts: s.ts, values: s.values });
      this.registry.applyTelemetry(gateway, device, s.ts, s.values);
    }
    this.maybeFlushEarly();
  }

  private onEvent(gateway: string, device: string, e: DeviceEvent): void {
    this.events.push({
      device: `${gateway}.${device}`,
      gateway,
      seq: e.seq,
      ts: e.ts,
      type: e.type,
      severity: e.severity,
      data: e.data ?? null,
    });
    this.registry.applyEvent(gateway, device, e);
    this.maybeFlushEarly();
  }

  private maybeFlushEarly(): void {
    const rows = this.telemetry.length + this.events.length;
    this.metrics.storeBacklog.set(rows);
    if (rows >= this.options.flushMaxRows && !this.flushing) void this.flush();
  }

  /** Writes the buffered rows in one batch; on failure they stay buffered and are retried. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.telemetry.length === 0 && this.events.length === 0) return;
    const telemetry = this.telemetry;
    const events = this.events;
    const marks = this.seqs.takeDirty();
    this.telemetry = [];
    this.events = [];
    const started = process.hrtime.bigint();
    this.flushing = this.store
      .write(telemetry, events)
      .then(
        () => {
          this.metrics.storeLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
          this.metrics.storeRows.inc(telemetry.length + events.length);
          // Marks are saved only after the rows they cover are stored.
          if (marks.length > 0) this.stateDb.saveSeqMarks(marks);
        },
        (err: unknown) => {
          this.telemetry = telemetry.concat(this.telemetry);
          this.events = events.concat(this.events);
          this.seqs.restoreDirty(marks);
          this.log.error({ err, rows: telemetry.length + events.length }, 'store write failed; will retry');
        },
      )
      .finally(() => {
        this.flushing = undefined;
        this.metrics.storeBacklog.set(this.telemetry.length + this.events.length);
      });
    return this.flushing;
  }

  private reject(reason: RejectReason, topic: string, detail: string): void {
    this.metrics.rejected.inc({ reason });
    const now = Date.now();
    if (now - (this.lastRejectLog.get(reason) ?? 0) >= 1000) {
      this.lastRejectLog.set(reason, now);
      this.log.warn({ reason, topic, detail }, 'message rejected');
    }
  }
}
