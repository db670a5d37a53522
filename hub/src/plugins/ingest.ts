/**
 * Wires the hub to the broker: the registry, the seq tracker and the ingest service, fed by one
 * MQTT client (MQTT 3.1.1, QoS 1, persistent session so the broker keeps messages for the hub while
 * it restarts). The client is also how later issues publish commands to gateways.
 */
import { filters } from '@qianliyan/protocols';
import fp from 'fastify-plugin';
import mqtt, { type MqttClient } from 'mqtt';
import { IngestService } from '../services/ingest.ts';
import { Registry } from '../services/registry.ts';
import { SeqTracker } from '../services/seq-tracker.ts';

declare module 'fastify' {
  interface FastifyInstance {
    registry: Registry;
    ingest: IngestService;
    mqtt: MqttClient;
  }
}

export const ingestPlugin = fp(
  async (app) => {
    const registry = new Registry(app.stateDb, app.config.registry);
    const seqs = new SeqTracker(app.stateDb.loadSeqMarks());
    const ingest = new IngestService(
      app.config.ingest,
      app.timeseries,
      app.stateDb,
      registry,
      seqs,
      app.metrics,
      app.log.child({ module: 'ingest' }),
    );
    registry.on('gateway', () => app.metrics.gatewaysOnline.set(registry.onlineGatewayCount()));
    registry.start();
    ingest.start();

    const { url, username, password } = app.brokerConnection;
    const log = app.log.child({ module: 'mqtt' });
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      clientId: app.config.mqtt.clientId,
      clean: false,
      username,
      ...(password !== undefined ? { password } : {}),
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      // Subscribed on every connect below, so retained state/meta are replayed after a restart too.
      resubscribe: false,
    });
    client.on('message', (topic, payload, packet) => ingest.handle(topic, payload, packet.retain));
    client.on('error', (err) => log.warn({ err }, 'mqtt error'));
    client.on('offline', () => log.warn('mqtt offline'));
    client.on('connect', (connack) => {
      log.info({ url, sessionPresent: connack.sessionPresent }, 'mqtt connected');
      client.subscribe(filters.all, { qos: 1 }, (err) => {
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

    app.decorate('registry', registry);
    app.decorate('ingest', ingest);
    app.decorate('mqtt', client);
    app.addHook('onClose', async () => {
      await client.endAsync();
      registry.stop();
      await ingest.stop();
    });
  },
  { name: 'ingest', dependencies: ['stores', 'broker'] },
);
