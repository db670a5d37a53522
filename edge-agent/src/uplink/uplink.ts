/**
 * The gateway's MQTT uplink: one connection (QoS 1, persistent session, retained last will on
 * `state`), reconnect with exponential backoff and full jitter, and a pump that drains the durable
 * outbox in seq order. A row is deleted from the outbox only when its PUBACK arrives.
 *
 * Control rows (state, descriptors, events, command results) go before telemetry: each pump fills
 * the in-flight window from the control lane first, so a command result never waits behind a
 * backlog of half a million telemetry rows.
 *
 * The outbox is the only source of truth for what still has to be sent. When a connection drops,
 * everything it had in flight is forgotten and, on the next connection, sent again from the oldest
 * unacknowledged row, so the broker sees the stream in seq order. MQTT.js's own in-flight store is
 * replaced by an empty one on every reconnect: measured here, it lost in-flight publishes across a
 * broker restart without calling back, and replaying it would put old messages after newer ones.
 * A message may reach the hub twice (acked by the broker, ack lost); the hub drops it by `seq`.
 */

import { EventEmitter } from 'node:events';
import { LANES, type Lane, topics } from '@qianliyan/protocols';
import { encodePayload } from '@qianliyan/protocols/validate';
import mqtt, { type MqttClient, Store } from 'mqtt';
import type { Logger } from 'pino';
import { stripUserinfo } from '../video/media-address.ts';
import { Backoff } from './backoff.ts';
import type { Outbox, RowKey } from './outbox.ts';

export interface UplinkOptions {
  url: string;
  username?: string;
  password?: string;
  /** PEM of a private CA for mqtts:// (the broker's certificate is always verified). */
  ca?: string;
  site: string;
  gateway: string;
  keepaliveS: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** How many unacknowledged publishes may be in flight at once. */
  inflightWindow: number;
}

interface UplinkEvents {
  connected: [];
  disconnected: [];
  message: [topic: string, payload: Buffer];
}

export class Uplink extends EventEmitter<UplinkEvents> {
  private client: MqttClient | undefined;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly lastSent: Record<Lane, number> = { control: 0, bulk: 0 };
  private inflight = 0;
  private pendingAcks: RowKey[] = [];
  private ackFlushScheduled = false;
  /** Incremented per connection, so callbacks of a dead connection do not touch the window. */
  private generation = 0;
  connected = false;

  constructor(
    private readonly options: UplinkOptions,
    private readonly outbox: Outbox,
    private readonly log: Logger,
  ) {
    super();
    this.backoff = new Backoff(options.reconnectMinMs, options.reconnectMaxMs);
  }

  start(): void {
    const o = this.options;
    this.client = mqtt.connect(o.url, {
      protocolVersion: 4, // MQTT 3.1.1: the contract must work on the embedded broker
      // The broker ties a client id to its credential: a gateway connects as its own id.
      clientId: o.gateway,
      clean: false,
      keepalive: o.keepaliveS,
      reconnectPeriod: 0, // reconnects are scheduled here, with backoff and jitter
      connectTimeout: 10_000,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca !== undefined ? { ca: o.ca, rejectUnauthorized: true } : {}),
      will: {
        topic: topics.state(o.site, o.gateway),
        payload: encodePayload({ online: false }),
        qos: 1,
        retain: true,
      },
    });
    this.client.on('connect', () => this.onConnect());
    this.client.on('close', () => this.onClose());
    this.client.on('error', (err) => this.log.warn({ err }, 'mqtt error'));
    this.client.on('message', (topic, payload) => this.emit('message', topic, payload));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    this.flushAcks();
    // Forced: MQTT.js would otherwise wait for callbacks of connections that are gone (it never
    // completes them). Nothing is lost: unacknowledged rows stay in the outbox. Without a
    // DISCONNECT the broker publishes the last will, so the hub sees the gateway go offline at once.
    await this.client?.endAsync(true);
  }

  subscribe(filter: string): void {
    this.client?.subscribe(filter, { qos: 1 }, (err) => {
      if (err) this.log.error({ err, filter }, 'subscribe failed');
    });
  }

  /** The highest seq of a lane handed to the broker on this connection (rows above it are unsent). */
  sentUpTo(lane: Lane): number {
    return this.lastSent[lane];
  }

  /** Sends whatever the outbox holds beyond what is already in flight, control lane first. */
  pump(): void {
    const client = this.client;
    if (!client || !this.connected || !client.connected) return;
    const generation = this.generation;
    for (const lane of LANES) {
      while (this.inflight < this.options.inflightWindow) {
        const rows = this.outbox.peek(lane, this.lastSent[lane], this.options.inflightWindow - this.inflight);
        if (rows.length === 0) break;
        for (const row of rows) {
          this.lastSent[lane] = row.seq;
          this.inflight += 1;
          client.publish(row.topic, row.payload, { qos: 1, retain: row.retain }, (err) =>
            this.onPublished(generation, { lane, seq: row.seq }, err),
          );
        }
      }
    }
  }

  private onPublished(generation: number, key: RowKey, err: Error | undefined): void {
    const current = generation === this.generation;
    if (current) this.inflight -= 1;
    if (err) {
      // The row stays in the outbox and is sent again on the next connection.
      this.log.debug({ err, ...key }, 'publish not acknowledged');
      return;
    }
    this.pendingAcks.push(key);
    if (!this.ackFlushScheduled) {
      this.ackFlushScheduled = true;
      setImmediate(() => this.flushAcks());
    }
    if (current) this.pump();
  }

  /** Deletes acknowledged rows in one transaction per tick rather than one per message. */
  private flushAcks(): void {
    this.ackFlushScheduled = false;
    const seqs = this.pendingAcks;
    this.pendingAcks = [];
    try {
      this.outbox.ack(seqs);
    } catch (err) {
      this.log.error({ err }, 'outbox ack failed');
    }
  }

  private onConnect(): void {
    this.connected = true;
    this.backoff.reset();
    this.log.info({ url: stripUserinfo(this.options.url) }, 'uplink connected');
    this.emit('connected');
    this.pump();
  }

  private onClose(): void {
    const wasConnected = this.connected;
    this.connected = false;
    // Forget the dead connection's window: the next one resends from the oldest unacked row.
    this.generation += 1;
    this.inflight = 0;
    this.lastSent.control = 0;
    this.lastSent.bulk = 0;
    this.flushAcks();
    if (wasConnected) {
      this.log.warn('uplink lost');
      this.emit('disconnected');
    }
    if (this.stopping || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.log.info({ delayMs: delay }, 'reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.client?.reconnect({ outgoingStore: new Store() });
    }, delay);
  }
}
