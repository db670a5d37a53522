/**
 * Wires the hub to the broker: the event bus, the registry, the seq tracker and the ingest service,
 * fed by one MQTT client (persistent session, QoS 1) whose PUBACKs are held until the message is
 * stored (see mqtt/held-pubacks.ts). The same client publishes commands to gateways.
 *
 * Session handling: the hub subscribes only when the broker reports no session for it. With a
 * session present, the broker still has the subscription and a queue of messages for the hub, and a
 * resubscription would replay retained copies ahead of that queue.
 */
import { type CommandResult, type ConfigResult, filters, TOPIC_ROOT } from '@qianliyan/protocols';
import fp from 'fastify-plugin';
import mqtt, { type MqttClient } from 'mqtt';
import { IngestSlots } from '../cluster/ingest-slots.ts';
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
    /** Cluster only: the ingest slots this hub holds. */
    ingestSlots: IngestSlots | undefined;
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
    const clustered = app.cluster.enabled;
    // Paused while the store backlog is full; the broker queues for the hub's session meanwhile.
    let paused = false;
    /**
     * One MQTT connection of the hub. Alone, the hub has one (`mqtt.clientId`, persistent, plain
     * subscription: the embedded aedes has no shared subscriptions). In a cluster, each ingest slot
     * is one (`<username>-<n>`, persistent, `$share/<group>/…`), and commands leave through a clean
     * publisher of this hub’s own (`<username>@<hubId>`): Mosquitto's use_username_as_clientid makes
     * each username its client id, so each connection needs its own.
     */
    const connect = (user: string, clientId: string, persistent: boolean) =>
      mqtt.connect(url, {
        protocolVersion,
        clientId,
        clean: !persistent,
        username: user,
        ...(password !== undefined ? { password } : {}),
        ...(app.brokerConnection.ca ? { ca: app.brokerConnection.ca } : {}),
        // MQTT 5: keep the session while the hub restarts (3.1.1 keeps it until it is cleaned).
        ...(protocolVersion === 5 && persistent ? { properties: { sessionExpiryInterval: 0xffffffff } } : {}),
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        resubscribe: false,
        // MQTT.js calls its debug logger several times per packet; a no-op is measurably cheaper.
        log: () => {},
      });
    // The cluster's MQTT users (each slot's session, each hub's publisher) share the hub's password;
    // a hub adds those missing from Mosquitto's password file, so only qly-hub is set up by hand.
    if (clustered && password !== undefined) {
      const users = [
        `${username}@${app.cluster.hubId}`,
        ...Array.from({ length: app.config.cluster.ingestSlots }, (_, i) => `${username}-${i + 1}`),
      ];
      const added = app.mosquittoPasswords?.ensure(users, password) ?? [];
      if (added.length > 0) log.info({ added }, 'cluster MQTT users added to the password file');
    }
    const client: MqttClient = clustered
      ? connect(`${username}@${app.cluster.hubId}`, `${username}@${app.cluster.hubId}`, false)
      : connect(username, app.config.mqtt.clientId, true);
    /** The connections messages arrive on (in a cluster, one per slot held). */
    const ingestClients = new Set<MqttClient>();
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
        ...(app.cluster.claims ? { storeOnce: app.cluster.claims.storeOnce.bind(app.cluster.claims) } : {}),
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
          for (const c of ingestClients) c.end(true);
        },
        resumed: () => {
          paused = false;
          app.metrics.ingestSaturated.set(0);
          for (const c of ingestClients) c.reconnect();
        },
        clearRetained: (topic) => {
          if (!topic.startsWith(`${TOPIC_ROOT}/`) || !client.connected) return;
          client.publish(topic, Buffer.alloc(0), { qos: 1, retain: true }, (err) => {
            if (err) log.warn({ err, topic }, 'could not clear a refused retained message');
          });
        },
        commandResult: (gateway: string, result: CommandResult) =>
          bus.emit('commandResult', { gateway, result }),
        recordingIndex: (site, gateway, device, index) =>
          bus.emit('recordingIndex', { site, gateway, device, index }),
        configResult: (gateway: string, result: ConfigResult) =>
          bus.emit('configReported', { gateway, result }),
        // Ingested here, answered by another hub of the cluster maybe: cluster-fanout.ts relays it.
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

    /** Wires an ingest connection: held PUBACKs, and the subscription when the broker has no session. */
    const ingestOn = (c: MqttClient, filter: string, name: string) => {
      ingestClients.add(c);
      holdPubacks(c, (topic, payload, packet, ack) => ingest.handle(topic, payload, packet.retain, ack));
      c.on('error', (err) => log.warn({ err, client: name }, 'mqtt error'));
      c.on('offline', () => {
        if (!paused) log.warn({ client: name }, 'mqtt offline');
      });
      c.on('connect', (connack) => {
        log.info({ url, client: name, sessionPresent: connack.sessionPresent }, 'mqtt connected');
        // A shared subscription is renewed on every connect: Mosquitto restored the slot sessions
        // after a restart without their `$share/` subscriptions (tests/reconnect-storm.test.ts: every
        // gateway back, nothing delivered to the hubs). Renewing one replays nothing: retained
        // messages are not sent to shared subscriptions (MQTT 5, 4.8.2).
        if (connack.sessionPresent && !filter.startsWith('$share/')) return;
        c.subscribe(filter, { qos: 1, ...(protocolVersion === 5 ? { rap: true } : {}) }, (err) => {
          if (err) log.error({ err, client: name }, 'subscribe failed');
        });
      });
    };
    let slots: IngestSlots | undefined;
    if (clustered) {
      client.on('error', (err) => log.warn({ err }, 'mqtt error (publisher)'));
      const shared = `$share/${app.config.cluster.shareGroup}/${filters.all}`;
      slots = new IngestSlots({
        slots: app.config.cluster.ingestSlots,
        hubId: app.cluster.hubId,
        pollMs: app.config.cluster.slotPollMs,
        leases: app.cluster.leases,
        log,
        flush: () => ingest.flush(),
        open: (n) => {
          const name = `${username}-${n}`;
          const c = connect(name, name, true);
          ingestOn(c, shared, name);
          return {
            end: async (graceful) => {
              ingestClients.delete(c);
              await c.endAsync(!graceful);
            },
          };
        },
      });
    } else ingestOn(client, filters.all, app.config.mqtt.clientId);
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
    app.decorate('ingestSlots', slots);
    slots?.start();
    app.addHook('onClose', async () => {
      // Store what was accepted, then leave: acks of what is stored go out before the connection ends.
      await ingest.stop();
      await slots?.stop();
      await client.endAsync();
      registry.stop();
    });
  },
  { name: 'ingest', dependencies: ['stores', 'cluster', 'broker', 'basemap'] },
);
