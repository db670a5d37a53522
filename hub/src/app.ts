/**
 * The hub's app factory. Builds a Fastify instance with every plugin and route module; only
 * server.ts listens. Tests build it with `buildApp()` and use `app.inject()` or a real port.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import type { ErrorDetail } from '@qianliyan/protocols';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { HubConfig } from './config.ts';
import { HubError } from './errors.ts';
import { alarmCentrePlugin, alarmsPlugin } from './plugins/alarms.ts';
import { authPlugin } from './plugins/auth.ts';
import { basemapPlugin } from './plugins/basemap.ts';
import { broadcastsPlugin } from './plugins/broadcasts.ts';
import { brokerPlugin } from './plugins/broker.ts';
import { callsPlugin } from './plugins/calls.ts';
import { clusterPlugin } from './plugins/cluster.ts';
import { clusterFanoutPlugin } from './plugins/cluster-fanout.ts';
import { commandsPlugin } from './plugins/commands.ts';
import { incidentsPlugin } from './plugins/incidents.ts';
import { ingestPlugin } from './plugins/ingest.ts';
import { livePlugin } from './plugins/live.ts';
import { provisioningPlugin } from './plugins/provisioning.ts';
import { recordingsPlugin } from './plugins/recordings.ts';
import { storesPlugin } from './plugins/stores.ts';
import { videoPlugin } from './plugins/video.ts';
import { alarmCentreRoutes } from './routes/alarm-centre.ts';
import { alarmRoutes } from './routes/alarms.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { broadcastRoutes } from './routes/broadcasts.ts';
import { commandRoutes } from './routes/commands.ts';
import { deviceRoutes } from './routes/devices.ts';
import { enrolmentRoutes } from './routes/enrolments.ts';
import { fleetRoutes } from './routes/fleet.ts';
import { gatewayConfigRoutes } from './routes/gateway-config.ts';
import { gatewayRoutes } from './routes/gateways.ts';
import { healthRoutes } from './routes/health.ts';
import { incidentRoutes } from './routes/incidents.ts';
import { linkageRoutes } from './routes/linkage.ts';
import { mapRoutes } from './routes/map.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { recordingRoutes } from './routes/recordings.ts';
import { siteRoutes } from './routes/sites.ts';
import { userRoutes } from './routes/users.ts';
import { videoRoutes } from './routes/video.ts';
import { REDACT_PATHS, requestSerializer } from './security/log-redaction.ts';
import { randomSecret } from './security/passwords.ts';
import { createMetrics, type HubMetrics } from './services/metrics.ts';
import { validationDetail } from './validation-detail.ts';

export interface HubSecrets {
  jwtSecret: string;
  mqttPassword: string | undefined;
  mqttCa: string | undefined;
  metricsToken: string | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    config: HubConfig;
    secrets: HubSecrets;
    metrics: HubMetrics;
    /** Every route registered, as `METHOD url` (for the auth test and the docs). */
    routeList: string[];
    /**
     * Each route's response schemas by status, as registered (`METHOD url` → status → schema): the
     * contract test checks that each answer is the very schema of protocols' REST_ANSWERS.
     */
    routeResponses: Map<string, Readonly<Record<string, unknown>>>;
  }
}

/** Reads secrets from files; the JWT key is created in DATA_DIR (mode 0600) on first start. */
export function loadSecrets(config: HubConfig): HubSecrets {
  const read = (path: string | undefined) => (path ? readFileSync(path, 'utf8').trim() : undefined);
  // DATA_DIR holds credentials and the databases: only the hub's user may enter it.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  let jwtSecret = read(config.auth.jwtSecretFile);
  if (!jwtSecret) {
    const path = join(config.dataDir, 'jwt-secret');
    if (!existsSync(path)) writeFileSync(path, randomSecret(48), { mode: 0o600 });
    jwtSecret = readFileSync(path, 'utf8').trim();
  }
  return {
    jwtSecret,
    mqttPassword: read(config.mqtt.passwordFile),
    mqttCa: read(config.mqtt.caFile),
    metricsToken: read(config.auth.metricsTokenFile),
  };
}

export interface BuildOptions {
  /** Where log lines go (tests read them); stdout by default. */
  logStream?: { write(line: string): void };
}

/** HTTPS options when the config names a certificate and key. */
function httpsOptions(config: HubConfig): { https: { cert: Buffer; key: Buffer } } | Record<string, never> {
  const { certFile, keyFile } = config.tls;
  if (!certFile || !keyFile) return {};
  return { https: { cert: readFileSync(certFile), key: readFileSync(keyFile) } };
}

/**
 * The dashboard's Content Security Policy: its own scripts and styles only (no inline code), images
 * from itself, data: URLs (Leaflet's icons) and the configured tile server, sockets to itself.
 */
const JSMPEG_STYLE_HASHES = [
  "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
  "'sha256-lRyplcblLyRa4o+ZUBNzXETDGwKXzgKgrWbiYOwfTLg='",
];

export function contentSecurityPolicy(config: HubConfig): Record<string, string[]> {
  const images = ["'self'", 'data:', 'blob:'];
  if (config.map.tileUrl) {
    try {
      images.push(new URL(config.map.tileUrl.replace(/\{[a-z]\}/g, 'a')).origin);
    } catch {
      /* an unparseable tile URL loads no tiles anyway */
    }
  }
  return {
    defaultSrc: ["'self'"],
    // JSMpeg compiles its MPEG-1 decoder to WebAssembly; nothing else may evaluate code.
    scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
    // The JSMpeg package injects one fixed stylesheet when loaded (for a player UI we do not use):
    // that exact text (and the empty element it starts as) by hash, no other inline style.
    styleSrc: ["'self'", ...JSMPEG_STYLE_HASHES],
    imgSrc: images,
    mediaSrc: ["'self'", 'blob:'],
    connectSrc: ["'self'"],
    workerSrc: ["'self'", 'blob:'],
    fontSrc: ["'self'", 'data:'],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  };
}

export async function buildApp(config: HubConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...httpsOptions(config),
    logger: {
      level: config.logLevel,
      // Tokens and session ids never reach the log: URLs redacted, credential fields censored.
      redact: REDACT_PATHS,
      serializers: { req: requestSerializer },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  app.decorate('config', config);
  app.decorate('secrets', loadSecrets(config));
  app.decorate('metrics', createMetrics());
  const routeList: string[] = [];
  app.decorate('routeList', routeList);
  const routeResponses = new Map<string, Readonly<Record<string, unknown>>>();
  app.decorate('routeResponses', routeResponses);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routeList.push(`${method} ${route.url}`);
      const response = (route.schema as { response?: Record<string, unknown> } | undefined)?.response;
      if (response) routeResponses.set(`${method} ${route.url}`, response);
    }
  });

  app.setErrorHandler((err: FastifyError | HubError, request, reply) => {
    const fail = (status: number, code: string, message: string, detail: ErrorDetail = {}) => {
      app.metrics.httpRejected.inc({ code });
      if (status >= 500) request.log.error({ err }, 'request failed');
      else request.log.info({ code, detail: message, ...detail }, 'request rejected');
      return reply.code(status).send({ code, message, ...detail });
    };
    if (err instanceof HubError) return fail(err.statusCode, err.code, err.message, err.detail);
    const validation = (err as FastifyError).validation;
    if (validation) return fail(400, 'HUB_ERR_VALIDATION', err.message, validationDetail(validation));
    const status = (err as FastifyError).statusCode ?? 500;
    if (status === 401) return fail(401, 'HUB_ERR_UNAUTHORIZED', 'authentication required');
    if (status === 429) return fail(429, 'HUB_ERR_RATE_LIMITED', 'too many requests');
    if (status === 413) return fail(413, 'HUB_ERR_TOO_LARGE', 'request body too large');
    if (status >= 500) return fail(status, 'HUB_ERR_INTERNAL', 'internal error');
    return fail(status, 'HUB_ERR_VALIDATION', err.message);
  });

  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: contentSecurityPolicy(config) },
    referrerPolicy: { policy: 'no-referrer' },
    // Only meaningful over HTTPS; a plain-HTTP demo must not tell browsers to insist on HTTPS.
    strictTransportSecurity: config.tls.certFile ? { maxAge: 15552000 } : false,
    crossOriginEmbedderPolicy: false,
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Qianliyan hub API', version: '0.2.0' },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      security: [{ bearerAuth: [] }],
    },
  });
  await app.register(storesPlugin);
  await app.register(clusterPlugin);
  await app.register(brokerPlugin);
  await app.register(basemapPlugin);
  await app.register(ingestPlugin);
  await app.register(alarmsPlugin);
  await app.register(authPlugin);
  await app.register(commandsPlugin);
  await app.register(livePlugin);
  await app.register(videoPlugin);
  await app.register(broadcastsPlugin);
  await app.register(incidentsPlugin);
  await app.register(callsPlugin);
  await app.register(alarmCentrePlugin);
  await app.register(recordingsPlugin);
  await app.register(clusterFanoutPlugin);
  await app.register(provisioningPlugin);

  await app.register(authRoutes);
  await app.register(healthRoutes);
  await app.register(siteRoutes);
  await app.register(gatewayRoutes);
  await app.register(deviceRoutes);
  await app.register(userRoutes);
  await app.register(mapRoutes);
  await app.register(metricsRoutes);
  await app.register(broadcastRoutes);
  await app.register(auditRoutes);
  await app.register(commandRoutes);
  await app.register(videoRoutes);
  await app.register(recordingRoutes);
  await app.register(alarmRoutes);
  await app.register(alarmCentreRoutes);
  await app.register(incidentRoutes);
  await app.register(linkageRoutes);
  await app.register(enrolmentRoutes);
  await app.register(gatewayConfigRoutes);
  await app.register(fleetRoutes);
  app.get('/api/openapi.json', { onRequest: app.authenticate, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  if (existsSync(join(config.dashboardDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: config.dashboardDir, wildcard: false });
  } else {
    app.log.warn({ dir: config.dashboardDir }, 'dashboard not built; run `npm run build`');
  }
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      code: 'HUB_ERR_NOT_FOUND',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
  return app;
}
