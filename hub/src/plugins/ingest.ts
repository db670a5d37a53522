/**
 * Wires the hub to the broker: the event bus, the registry, the seq tracker and the ingest service,
 * fed by one MQTT client (persistent session, QoS 1) whose PUBACKs are held until the message is
 * stored (see mqtt/held-pubacks.ts). The same client publishes commands to gateways.
 *
 * Session handling: the hub subscribes only when the broker reports no session for it. With a
 * session present, the broker still has the subscription and a queue of messages for the hub, and a
 * resubscription would replay retained copies ahead of that queue.
 */
import { type CommandResult, filters, TOPIC_ROOT } from '@qianliyan/protocols';
import fp from 'fastify-plugin';
import mqtt, { type MqttClient } from 'mqtt';
import { holdPubacks } from '../mqtt/held-pubacks.ts';
import { EventBus } from '../services/event-bus.ts';
import { GeofenceWatch } from '../services/geofences.ts';
import { IngestService } from '../services/ingest.ts';
import { Registry } from '../services/registry.ts';
import { SeqTracker } from '../services/seq-tracker.ts';
import { SiteBounds } from '../services/site-bounds.ts';

declare module 'fastify' {
  interface FastifyInstance {
    bus: EventBus;
    registry: Registry;
    ingest: IngestService;
    siteBounds: SiteBounds;
    mqtt: MqttClient;
  }
}

export const ingestPlugin = fp(
  async (app) => {
    const log = app.log.child({ module: 'mqtt' });
    const bus = new EventBus(app.metrics, app.log.child({ module: 'bus' }));
    const registry = new Registry(app.stateDb, bus, app.config.registry);
    const seqs = new SeqTracker(await app.timeseries.loadMarks());
    const { url, username, password } = app.brokerConnection;
    const protocolVersion = app.brokerConnection.embedded ? 4 : app.config.mqtt.protocolVersion;
    // Paused while the store backlog is full; the broker queues for the hub's session meanwhile.
    let paused = false;
    const client = mqtt.connect(url, {
      protocolVersion,
      clientId: app.config.mqtt.clientId,
      clean: false,
      username,
      ...(password !== undefined ? { password } : {}),
      ...(app.brokerConnection.ca ? { ca: app.brokerConnection.ca } : {}),
      // MQTT 5: keep the session while the hub restarts (3.1.1 keeps it until it is cleaned).
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 0xffffffff } } : {}),
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      resubscribe: false,
      // MQTT.js calls its debug logger several times per packet; a no-op is measurably cheaper.
      log: () => {},
    });
    const { limits } = app.config;
    const siteBounds = new SiteBounds(
      app.siteTree,
      { toleranceM: limits.siteToleranceM, radiusM: limits.siteRadiusM, droneRangeM: limits.droneRangeM },
      (site) => log.warn({ site }, 'site has no outline or centre: device positions there are not checked'),
    );
    siteBounds.setFences(app.fences);
    const ingest = new IngestService(
      {
        ...app.config.ingest,
        maxDevicesPerGateway: limits.maxDevicesPerGateway,
        ...(app.brokerConnection.embedded
          ? {}
          : { rateLimit: { perSecond: limits.gatewayMessagesPerSecond, burst: limits.gatewayBurst } }),
      },
      app.timeseries,
      () => app.stateDb.listGateways(),
      registry,
      seqs,
      app.metrics,
      app.log.child({ module: 'ingest' }),
      {
        saturated: () => {
          paused = true;
          app.metrics.ingestSaturated.set(1);
          // Forced: no DISCONNECT handshake to wait for, and unacknowledged messages stay queued.
          client.end(true);
        },
        resumed: () => {
          paused = false;
          app.metrics.ingestSaturated.set(0);
          client.reconnect();
        },
        clearRetained: (topic) => {
          if (!topic.startsWith(`${TOPIC_ROOT}/`) || !client.connected) return;
          client.publish(topic, Buffer.alloc(0), { qos: 1, retain: true }, (err) => {
            if (err) log.warn({ err, topic }, 'could not clear a refused retained message');
          });
        },
        commandResult: (gateway: string, result: CommandResult) =>
          bus.emit('commandResult', { gateway, result }),
        placeAllowed: (site, kind, pos) => {
          const verdict = siteBounds.check(site, kind, pos);
          if (verdict.ok) return undefined;
          return 'insideOf' in verdict
            ? `position inside site ${verdict.insideOf}, not ${site}`
            : `position ${verdict.distanceM} m outside site ${site} (at most ${verdict.allowedM} m)`;
        },
      },
    );
    new GeofenceWatch(app.fences, bus, (key, type, severity, data) =>
      ingest.recordHubEvent(key, type, severity, data),
    ).start();
    bus.on('gatewayChanged', 'metrics', () => app.metrics.gatewaysOnline.set(registry.onlineGatewayCount()));
    registry.start();
    ingest.start();

    holdPubacks(client, (topic, payload, packet, ack) => ingest.handle(topic, payload, packet.retain, ack));
    client.on('error', (err) => log.warn({ err }, 'mqtt error'));
    client.on('offline', () => {
      if (!paused) log.warn('mqtt offline');
    });
    client.on('connect', (connack) => {
      log.info({ url, sessionPresent: connack.sessionPresent }, 'mqtt connected');
      if (connack.sessionPresent) return;
      client.subscribe(filters.all, { qos: 1, ...(protocolVersion === 5 ? { rap: true } : {}) }, (err) => {
        if (err) log.error({ err }, 'subscribe failed');
      });
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cannot reach the MQTT broker at ${url}`)), 15_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    }).catch(async (err) => {
      await client.endAsync(true);
      throw err;
    });

    app.decorate('bus', bus);
    app.decorate('registry', registry);
    app.decorate('ingest', ingest);
    app.decorate('siteBounds', siteBounds);
    app.decorate('mqtt', client);
    app.addHook('onClose', async () => {
      // Store what was accepted, then leave: acks of what is stored go out before the connection ends.
      await ingest.stop();
      await client.endAsync();
      registry.stop();
    });
  },
  { name: 'ingest', dependencies: ['stores', 'broker', 'basemap'] },
);
