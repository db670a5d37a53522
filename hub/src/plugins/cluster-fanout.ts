/**
 * What one hub of a cluster tells the others, through Redis: the socket.io Redis adapter
 * (@socket.io/redis-adapter) joins the hubs' socket.io servers, so a room emit reaches sockets on
 * every hub, and `serverSideEmit` carries the hub-to-hub messages below. Without `cluster.redisUrl`
 * this plugin does nothing.
 *
 *   - `qly:registry`: devices and gateways that changed here (ingested here: the broker deals each
 *     message to one hub), the latest entry per key, every `cluster.fanoutIntervalMs`. The others
 *     apply them to their registries and their live plugins send their own sockets the deltas, with
 *     each socket's scope and subscription, as for a change of their own.
 *   - `qly:live`: the live table's topics (alarms, incidents, broadcasts, commands, linkage)
 *     published here; each hub publishes them to its sockets in scope.
 *   - `qly:revoked`: sessions revoked here (logout, password change, user disabled): every hub closes
 *     the sockets, video and talk of those sessions at once. (Requests are refused everywhere anyway:
 *     each one reads the session from the shared database.)
 *   - `qly:cmdResult`: a command result ingested here; the hub that sent the command matches it.
 *   - `qly:gateway`: a gateway registered (its ingest takes its messages at once) or deleted here
 *     (its devices leave every hub's registry and dashboards).
 */
import { createAdapter } from '@socket.io/redis-adapter';
import fp from 'fastify-plugin';
import { createClient } from 'redis';
import type { RegistryReplica } from '../services/registry.ts';

type Emitter = { serverSideEmit(event: string, ...args: unknown[]): boolean };
type Receiver = { on(event: string, fn: (...args: never[]) => void): unknown };

export const clusterFanoutPlugin = fp(
  async (app) => {
    const url = app.config.cluster.redisUrl;
    if (!url) return;
    const log = app.log.child({ module: 'cluster' });
    const pub = createClient({ url });
    const sub = pub.duplicate();
    for (const [name, c] of [
      ['pub', pub],
      ['sub', sub],
    ] as const)
      c.on('error', (err: unknown) => log.warn({ err, client: name }, 'redis error'));
    await Promise.all([pub.connect(), sub.connect()]);
    app.io.adapter(createAdapter(pub, sub, { key: 'qly' }));
    const io = app.io as unknown as Emitter & Receiver;
    const peers = io as unknown as { on(event: string, fn: (...args: never[]) => void): void };
    const metrics = app.metrics;
    const send = (event: string, payload: unknown) => {
      try {
        io.serverSideEmit(event, payload);
        metrics.clusterFanout.inc({ event, direction: 'out' });
      } catch (err) {
        log.warn({ err, event }, 'cluster fan-out failed');
      }
    };
    const received = (event: string) => metrics.clusterFanout.inc({ event, direction: 'in' });

    // Registry: changed keys collect between sends, so a device sending 50 samples a second costs
    // one entry per interval.
    const devices = new Set<string>();
    const gateways = new Set<string>();
    app.bus.on('deviceChanged', 'cluster', ({ key }) => {
      if (!app.registry.replicating) devices.add(key);
    });
    app.bus.on('gatewayChanged', 'cluster', ({ id }) => {
      if (!app.registry.replicating) gateways.add(id);
    });
    const timer = setInterval(() => {
      if (devices.size === 0 && gateways.size === 0) return;
      const replica = app.registry.replicaOf(devices, gateways);
      devices.clear();
      gateways.clear();
      send('qly:registry', replica);
    }, app.config.cluster.fanoutIntervalMs);
    timer.unref();
    peers.on('qly:registry', (replica: RegistryReplica) => {
      received('qly:registry');
      app.registry.applyReplica(replica);
    });

    app.live.relay = (topic, payload) => send('qly:live', { topic, payload });
    peers.on('qly:live', (m: { topic: string; payload: unknown }) => {
      received('qly:live');
      app.live.publish(m.topic, m.payload);
    });

    app.bus.on('sessionsRevoked', 'cluster', ({ sid, username, remote }) => {
      if (!remote) send('qly:revoked', { sid, username });
    });
    peers.on('qly:revoked', (m: { sid?: string; username?: string }) => {
      received('qly:revoked');
      app.bus.emit('sessionsRevoked', { ...m, remote: true });
    });

    app.bus.on('commandResult', 'cluster', ({ gateway, result, remote }) => {
      if (!remote) send('qly:cmdResult', { gateway, result });
    });
    peers.on('qly:cmdResult', (m: { gateway: string; result: never }) => {
      received('qly:cmdResult');
      app.bus.emit('commandResult', { ...m, remote: true });
    });

    app.bus.on('gatewayRegistered', 'cluster', ({ id, site, remote }) => {
      if (!remote) send('qly:gateway', { id, site });
    });
    app.bus.on('gatewayRemoved', 'cluster', ({ id, site, devices, remote }) => {
      if (!remote) send('qly:gateway', { id, site, removed: devices });
    });
    peers.on('qly:gateway', (m: { id: string; site: string; removed?: string[] }) => {
      received('qly:gateway');
      if (m.removed) {
        app.registry.removeGateway(m.id);
        app.ingest.forgetGateway(m.id);
        app.bus.emit('gatewayRemoved', { id: m.id, site: m.site, devices: m.removed, remote: true });
      } else {
        app.ingest.refreshGateways();
        app.registry.registerGateway(m.id, m.site);
        app.bus.emit('gatewayRegistered', { ...m, remote: true });
      }
    });

    app.addHook('onClose', async () => {
      clearInterval(timer);
      await Promise.allSettled([pub.quit(), sub.quit()]);
    });
    log.info('live fan-out through Redis');
  },
  { name: 'cluster-fanout', dependencies: ['live', 'ingest', 'cluster'] },
);
