/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1), started when no external broker URL is configured.
 *
 * Identities: every connection authenticates — the hub with a per-process secret, each gateway with
 * the credential an administrator issued (username = gateway id). A client's id is its username
 * (as Mosquitto's `use_username_as_clientid`), so nobody can take over another client's session or
 * read its queued messages by presenting its client id; `qly-hub` belongs to the hub's credential.
 *
 * Limits (config `limits`, each refusal counted in `qly_broker_refused_total{reason}` and logged at
 * most once a second per client and reason):
 *  - packets larger than `maxPacketBytes` drop the connection before they are buffered;
 *  - a gateway publishes only the edge shapes of the contract under its own id, never `…/cmd`, and
 *    retains only current-state messages (state, meta, availability);
 *  - a descriptor for one more device than `maxDevicesPerGateway` is refused;
 *  - messages per second per gateway: past the rate the broker delays authorising the next publish,
 *    which stops reading that gateway's socket (backpressure, nothing lost); a gateway whose delay
 *    would exceed `maxThrottleMs` is flooding and is disconnected;
 *  - the password is checked first, so a correct credential is never refused for what others did;
 *    failed CONNECTs are answered late, per source address and hub-wide (mqtt/connect-guard.ts);
 *    successful connections per gateway per minute are bounded (a reconnect storm of its own).
 * When a gateway's credential is re-issued or deleted, its live session is closed.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { filters, parseTopic, type TopicKind } from '@qianliyan/protocols';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import fp from 'fastify-plugin';
import type { BrokerRefusal } from '../mqtt/broker-refusals.ts';
import { ConnectGuard } from '../mqtt/connect-guard.ts';
import { MqttFrameMeter } from '../mqtt/frame-meter.ts';
import { hashSecret, randomSecret, verifyPassword } from '../security/passwords.ts';
import { MosquittoPasswords } from '../services/mosquitto-passwords.ts';
import { ThrottledLog } from '../services/throttled-log.ts';
import { TokenBucket } from '../services/token-bucket.ts';

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
    /** The embedded broker's listening ports (0 when not listening). */
    brokerPorts: { plain: number; tls: number };
    /** Mosquitto's password file, when the hub manages gateway credentials there. */
    mosquittoPasswords: MosquittoPasswords | undefined;
  }
}

type Identity = { role: 'hub' } | { role: 'gateway'; id: string; site: string; rate: TokenBucket };
const identities = new WeakMap<Client, Identity>();
const RETAINABLE: ReadonlySet<TopicKind> = new Set(['state', 'meta', 'availability', 'recordings']);
const EDGE_KINDS: ReadonlySet<TopicKind> = new Set([
  'state',
  'meta',
  'availability',
  'recordings',
  'telemetry',
  'event',
  'cmdResult',
  'configResult',
]);

/** The remote address of a client's connection ('?' when the transport has none). */
function remoteAddressOf(client: Client): string {
  return (client as unknown as { conn?: { remoteAddress?: string } }).conn?.remoteAddress ?? '?';
}

function authError(message: string, returnCode: 3 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export const brokerPlugin = fp(
  async (app) => {
    const { mqtt, limits } = app.config;
    if (mqtt.url) {
      app.decorate('brokerConnection', {
        url: mqtt.url,
        username: mqtt.username,
        password: app.secrets.mqttPassword,
        ...(app.secrets.mqttCa ? { ca: app.secrets.mqttCa } : {}),
        embedded: false,
      });
      app.decorate('brokerPorts', { plain: 0, tls: 0 });
      const { passwordFile, pidFile } = mqtt.mosquitto;
      const passwords = passwordFile
        ? new MosquittoPasswords(passwordFile, pidFile, app.log.child({ module: 'mosquitto-passwords' }))
        : undefined;
      // The hub keeps its own entry current too, so a Mosquitto it manages needs no manual step.
      if (passwords && app.secrets.mqttPassword) passwords.set(mqtt.username, app.secrets.mqttPassword);
      app.decorate('mosquittoPasswords', passwords);
      return;
    }
    app.decorate('mosquittoPasswords', undefined);
    const hubSecret = randomSecret(24);
    const log = app.log.child({ module: 'broker' });
    const throttled = new ThrottledLog(log, 1000);
    const connectBuckets = new Map<string, TokenBucket>();
    const dummyHash = hashSecret(randomSecret());
    const refuse = (reason: BrokerRefusal, client: string, fields: object = {}) => {
      app.metrics.brokerRefused.inc({ reason });
      throttled.warn(`${client}/${reason}`, { client, reason, ...fields }, 'broker refused');
    };

    // The password is checked first; only failures are throttled, per source address and hub-wide,
    // never per username: a stranger cannot lock a gateway out (mqtt/connect-guard.ts).
    const guard = new ConnectGuard({
      failuresPerMinutePerAddress: limits.connectFailuresPerMinutePerAddress,
      failuresPerSecond: limits.connectFailuresPerSecond,
      maxFailureDelayMs: limits.connectFailureMaxDelayMs,
    });

    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const pw = password?.toString('utf8') ?? '';
        const name = username ?? '';
        const address = remoteAddressOf(client);
        // Bad credentials are answered late (the guard's per-address and hub-wide rates), good ones at once.
        const failed = () => {
          app.metrics.mqttAuthFailures.inc();
          refuse('bad_credentials', address, { username: name.slice(0, 64) });
          const verdict = guard.failed(address);
          if (verdict.action === 'drop') {
            refuse('connect_throttled', address, { held: true });
            (client as unknown as { conn?: { destroy?: () => void } }).conn?.destroy?.();
            return;
          }
          if (verdict.overBudget) refuse('connect_throttled', address);
          const answer = () => {
            verdict.release();
            done(authError('bad credentials', 4), false);
          };
          if (verdict.delayMs > 0) setTimeout(answer, verdict.delayMs);
          else answer();
        };
        // A gateway that authenticates reconnects at most `gatewayConnectsPerMinute` times (a storm
        // of its own); counted only once its password is right, so nobody else can spend it.
        const withinRate = () => {
          let bucket = connectBuckets.get(name);
          if (!bucket) {
            if (connectBuckets.size > 10_000) connectBuckets.clear();
            bucket = new TokenBucket(limits.gatewayConnectsPerMinute / 60, limits.gatewayConnectsPerMinute);
            connectBuckets.set(name, bucket);
          }
          if (bucket.take()) return true;
          refuse('connect_rate', name);
          done(authError('too many connection attempts', 3), false);
          return false;
        };
        if (name === mqtt.username) {
          if (pw !== hubSecret) return failed();
          identities.set(client, { role: 'hub' });
          (client as { id: string }).id = mqtt.clientId;
          return done(null, true);
        }
        const gateway = name ? app.stateDb.getGateway(name) : undefined;
        // An unknown username is checked against a dummy hash: the answer and its timing do not tell
        // which gateways exist.
        verifyPassword(pw, gateway?.passwordHash ?? dummyHash).then(
          (ok) => {
            if (!ok || !gateway?.passwordHash) return failed();
            if (!withinRate()) return;
            identities.set(client, {
              role: 'gateway',
              id: gateway.id,
              site: gateway.site,
              rate: new TokenBucket(limits.gatewayMessagesPerSecond, limits.gatewayBurst),
            });
            // The client id is the gateway id, whatever the client sent: its session is its own.
            (client as { id: string }).id = gateway.id;
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
        if (
          !parsed ||
          parsed.gateway !== who.id ||
          parsed.site !== who.site ||
          !EDGE_KINDS.has(parsed.kind)
        ) {
          refuse('publish_acl', who.id, { topic: packet.topic.slice(0, 200) });
          return done(new Error('not authorized'));
        }
        if (packet.retain && !RETAINABLE.has(parsed.kind)) {
          refuse('retained_refused', who.id, { topic: packet.topic });
          return done(new Error('retained message refused'));
        }
        const registry = app.hasDecorator('registry') ? app.registry : undefined;
        if (
          parsed.kind === 'meta' &&
          parsed.device &&
          registry &&
          !registry.hasDevice(who.id, parsed.device) &&
          registry.deviceCountOf(who.id) >= limits.maxDevicesPerGateway
        ) {
          refuse('device_quota', who.id, { device: parsed.device });
          return done(new Error('device quota reached'));
        }
        const wait = who.rate.delayFor(1, limits.maxThrottleMs);
        if (wait === 0) return done(null);
        if (wait === Number.POSITIVE_INFINITY) {
          refuse('rate_limited', who.id);
          return done(new Error('message rate exceeded'));
        }
        // Backpressure: aedes reads this client's next packets only after this one is authorised.
        setTimeout(() => done(null), wait);
      },
      authorizeSubscribe: (client, sub, done) => {
        const who = identities.get(client);
        if (who?.role === 'hub') return done(null, sub);
        if (
          who?.role === 'gateway' &&
          (sub.topic === filters.gatewayCommands(who.site, who.id) ||
            sub.topic === filters.gatewayConfig(who.site, who.id))
        )
          return done(null, sub);
        // A negated subscription is answered with SUBACK 0x80 (MQTT 3.1.1 §3.9.3); the client stays.
        refuse('subscribe_acl', who?.role === 'gateway' ? who.id : (client.id ?? '?'), {
          filter: sub.topic.slice(0, 200),
        });
        done(null, null);
      },
    });
    broker.on('clientError', (client, err) => log.debug({ err, client: client?.id }, 'client error'));
    broker.on('connectionError', (client, err) => log.debug({ err, client: client?.id }, 'connection error'));

    // A re-issued or deleted credential ends the gateway's live session at once.
    app.addHook('onReady', async () => {
      app.bus.on('gatewayCredentialsChanged', 'broker', ({ id }) => {
        const client = (broker as unknown as { clients: Record<string, Client | undefined> }).clients[id];
        if (client && identities.get(client)?.role === 'gateway') {
          log.info({ gateway: id }, 'credential changed: closing the gateway’s session');
          client.close();
        }
      });
    });

    const handle = (socket: Socket) => {
      const meter = new MqttFrameMeter(limits.maxPacketBytes);
      const read = socket.read.bind(socket);
      // aedes pulls its input only through read() (on 'readable'): the meter sees every byte first.
      socket.read = (size?: number) => {
        const chunk = read(size) as Buffer | null;
        if (chunk) {
          const verdict = meter.feed(chunk);
          if (verdict !== 0) {
            refuse('oversize_packet', socket.remoteAddress ?? '?', { declaredBytes: verdict });
            socket.destroy();
            return null;
          }
        }
        return chunk;
      };
      broker.handle(socket);
    };
    const servers: Server[] = [];
    const listen = (server: Server, port: number) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, mqtt.embeddedHost, () => {
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      });
    let plainPort = 0;
    let tlsPort = 0;
    if (mqtt.plaintext) {
      const server = createServer(handle);
      servers.push(server);
      plainPort = await listen(server, mqtt.embeddedPort);
    }
    if (mqtt.tlsPort !== undefined) {
      const { certFile, keyFile } = app.config.tls;
      if (!certFile || !keyFile) throw new Error('mqtt.tlsPort needs tls.certFile and tls.keyFile');
      const server = createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, handle);
      servers.push(server);
      tlsPort = await listen(server, mqtt.tlsPort);
    }
    log.info({ host: mqtt.embeddedHost, port: plainPort, tlsPort }, 'embedded MQTT broker listening');
    const host = mqtt.embeddedHost === '0.0.0.0' ? '127.0.0.1' : mqtt.embeddedHost;
    app.decorate('brokerPorts', { plain: plainPort, tls: tlsPort });
    app.decorate('brokerConnection', {
      // The hub's own client takes the plaintext listener on loopback when there is one.
      url: plainPort ? `mqtt://${host}:${plainPort}` : `mqtts://${host}:${tlsPort}`,
      username: mqtt.username,
      password: hubSecret,
      ...(plainPort
        ? {}
        : { ca: readFileSync(app.config.tls.caFile ?? app.config.tls.certFile ?? '', 'utf8') }),
      embedded: true,
    });

    app.addHook('onClose', async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    });
  },
  { name: 'broker', dependencies: ['stores'] },
);
