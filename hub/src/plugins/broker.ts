/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1), started when no external broker URL is configured.
 * Every connection must authenticate: the hub with a per-process secret, each gateway with the
 * credentials an administrator issued (username = gateway id). A gateway may publish only under
 * its own `qly/v1/{site}/{gateway}/…` and subscribe only to its own command topic.
 */
import { createServer, type Server } from 'node:net';
import { filters, parseTopic, TOPIC_ROOT } from '@qianliyan/protocols';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import fp from 'fastify-plugin';
import { randomSecret, verifyPassword } from '../security/passwords.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Where the hub's own MQTT client connects, and with which credentials. */
    brokerConnection: {
      url: string;
      username: string;
      password: string | undefined;
      /** PEM of the CA that signed an external broker's certificate (mqtts://). */
      ca?: string;
      embedded: boolean;
    };
  }
}

type Identity = { role: 'hub' } | { role: 'gateway'; id: string; site: string };
const identities = new WeakMap<Client, Identity>();

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export const brokerPlugin = fp(
  async (app) => {
    const { mqtt } = app.config;
    if (mqtt.url) {
      app.decorate('brokerConnection', {
        url: mqtt.url,
        username: mqtt.username,
        password: app.secrets.mqttPassword,
        ...(app.secrets.mqttCa ? { ca: app.secrets.mqttCa } : {}),
        embedded: false,
      });
      return;
    }
    const hubSecret = randomSecret(24);
    const log = app.log.child({ module: 'broker' });
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const pw = password?.toString('utf8') ?? '';
        if (username === mqtt.username) {
          if (pw === hubSecret) {
            identities.set(client, { role: 'hub' });
            return done(null, true);
          }
          app.metrics.mqttAuthFailures.inc();
          return done(authError('bad credentials', 4), false);
        }
        const gateway = username ? app.stateDb.getGateway(username) : undefined;
        if (!gateway?.passwordHash) {
          app.metrics.mqttAuthFailures.inc();
          return done(authError('unknown gateway', 4), false);
        }
        verifyPassword(pw, gateway.passwordHash).then(
          (ok) => {
            if (!ok) {
              app.metrics.mqttAuthFailures.inc();
              return done(authError('bad credentials', 4), false);
            }
            identities.set(client, { role: 'gateway', id: gateway.id, site: gateway.site });
            done(null, true);
          },
          (err: Error) => done(Object.assign(err, { returnCode: 3 }) as AuthenticateError, false),
        );
      },
      authorizePublish: (client, packet, done) => {
        const who = client ? identities.get(client) : { role: 'hub' as const };
        if (who?.role === 'hub') return done(null);
        if (who?.role !== 'gateway') return done(new Error('not authenticated'));
        const parsed = parseTopic(packet.topic);
        // A gateway speaks only for itself, and never on the command topic (that is the hub's).
        if (parsed && parsed.gateway === who.id && parsed.site === who.site && parsed.kind !== 'cmd')
          return done(null);
        // Anything else under our root but outside the contract is let through for ingest to count
        // as unknown_topic; foreign roots are refused.
        if (!parsed && packet.topic.startsWith(`${TOPIC_ROOT}/${who.site}/${who.id}/`)) return done(null);
        log.warn({ gateway: who.id, topic: packet.topic }, 'publish refused');
        done(new Error('not authorized'));
      },
      authorizeSubscribe: (client, sub, done) => {
        const who = identities.get(client);
        if (who?.role === 'hub') return done(null, sub);
        if (who?.role === 'gateway' && sub.topic === filters.gatewayCommands(who.site, who.id))
          return done(null, sub);
        // A negated subscription is answered with SUBACK 0x80 (MQTT 3.1.1 §3.9.3); the client stays.
        log.warn({ client: client.id, filter: sub.topic }, 'subscription refused');
        done(null, null);
      },
    });
    broker.on('clientError', (client, err) => log.debug({ err, client: client?.id }, 'client error'));
    broker.on('connectionError', (client, err) => log.debug({ err, client: client?.id }, 'connection error'));

    const server: Server = createServer(broker.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(mqtt.embeddedPort, mqtt.embeddedHost, () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : mqtt.embeddedPort;
    log.info({ host: mqtt.embeddedHost, port }, 'embedded MQTT broker listening');
    const host = mqtt.embeddedHost === '0.0.0.0' ? '127.0.0.1' : mqtt.embeddedHost;
    app.decorate('brokerConnection', {
      url: `mqtt://${host}:${port}`,
      username: mqtt.username,
      password: hubSecret,
      embedded: true,
    });

    app.addHook('onClose', async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
  },
  { name: 'broker', dependencies: ['stores'] },
);
