/**
 * Edge agent entry point.
 *
 *   node --import tsx edge-agent/src/main.ts [--config FILE]       run the agent
 *   node --import tsx edge-agent/src/main.ts enroll <hub URL> <code> [--ca FILE] [--force]
 *                                                                  enrol, write the secret file, exit
 *
 * An enrolled gateway needs no config file: its identity (gateway id, site, broker, password, hub
 * URL, key pair) is in its secret file (`QLY_SECRET_FILE`, default `data/gateway-secret.json`) and
 * its devices come from the hub. `QLY_ENROLL_URL` + `QLY_ENROLL_CODE` (and `QLY_ENROLL_CA`) enrol on
 * the first start when there is no secret file yet, then run (a container needs only those).
 * `QLY_DEV_ADAPTERS=1` adds the simulated test devices (`sim-*`, tests and development only).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '@qianliyan/protocols/config';
import pino from 'pino';
import { ADAPTERS, type AdapterRegistry, DEV_ADAPTERS_ENV } from './adapters/registry.ts';
import { EdgeAgent } from './agent.ts';
import { loadEdgeConfig } from './config.ts';
import { EnrolError, enrol, type GatewaySecret, readSecretFile } from './provisioning/enrol.ts';
import { LogRing } from './provisioning/log-ring.ts';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const secretFile = argValue('--secret') ?? process.env.QLY_SECRET_FILE ?? 'data/gateway-secret.json';

if (process.argv[2] === 'enroll') {
  const [hubUrl, code] = [process.argv[3], process.argv[4]];
  if (!hubUrl || !code) {
    process.stderr.write('usage: edge-agent enroll <hub URL> <code> [--ca FILE] [--force]\n');
    process.exit(2);
  }
  try {
    const secret = await enrol({
      hubUrl,
      code,
      secretFile,
      ...(argValue('--ca') ? { caFile: argValue('--ca') as string } : {}),
      force: process.argv.includes('--force'),
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
    });
    process.stdout.write(
      `enrolled as gateway ${secret.gateway.id} (site ${secret.gateway.site}); identity written to ${secretFile}\n`,
    );
    process.exit(0);
  } catch (err) {
    if (err instanceof EnrolError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(err.exitCode);
    }
    throw err;
  }
}

const devAdapters = process.env[DEV_ADAPTERS_ENV] === '1';
const registry: AdapterRegistry = devAdapters
  ? { ...ADAPTERS, ...(await import('./dev-adapters/registry.ts')).DEV_ADAPTERS }
  : ADAPTERS;

let secret: GatewaySecret | undefined;
try {
  secret = readSecretFile(secretFile);
  if (!secret && process.env.QLY_ENROLL_URL && process.env.QLY_ENROLL_CODE) {
    secret = await enrol({
      hubUrl: process.env.QLY_ENROLL_URL,
      code: process.env.QLY_ENROLL_CODE,
      secretFile,
      ...(process.env.QLY_ENROLL_CA ? { caFile: process.env.QLY_ENROLL_CA } : {}),
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
    });
    process.stderr.write(`enrolled as gateway ${secret.gateway.id} (site ${secret.gateway.site})\n`);
  } else if (secret && process.env.QLY_ENROLL_CODE)
    process.stderr.write(`already enrolled (${secretFile}): QLY_ENROLL_CODE is not used again\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(err instanceof EnrolError ? err.exitCode : 2);
}

/** The secret file's identity as overrides: not through process.env, which child processes inherit. */
const identityEnv = (s: GatewaySecret | undefined): NodeJS.ProcessEnv =>
  s
    ? {
        QLY_GATEWAY_ID: s.gateway.id,
        QLY_SITE: s.gateway.site,
        QLY_MQTT_URL: s.mqtt.url,
        QLY_MQTT_USERNAME: s.mqtt.username,
        QLY_MQTT_PASSWORD: s.mqtt.password,
        QLY_HUB_URL: s.hubUrl,
        ...process.env,
      }
    : process.env;

const load = () => {
  const config = loadEdgeConfig(
    argValue('--config') ?? process.env.QLY_EDGE_CONFIG,
    identityEnv(secret),
    registry,
  );
  if (secret?.caFile) {
    const ca = readFileSync(secret.caFile, 'utf8');
    config.mqtt.ca ??= ca;
    config.video.ca ??= ca;
  }
  return config;
};

let config: ReturnType<typeof loadEdgeConfig>;
try {
  config = load();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

// The last lines, for `gateway.logs`: what pino wrote, after redaction.
const ring = new LogRing(1000);
const log = pino(
  {
    level: config.logLevel,
    base: { gateway: config.gateway.id },
    // Secrets never reach the log, whatever a line carries by mistake; lines that print a URL strip
    // its user:password@ themselves (media-address.ts `stripUserinfo`).
    redact: [
      'password',
      '*.password',
      'mqtt.password',
      'authorization',
      '*.authorization',
      'headers.authorization',
      '*.headers.authorization',
    ],
  },
  pino.multistream([{ stream: process.stdout }, { stream: ring }]),
);
if (devAdapters) log.warn(`${DEV_ADAPTERS_ENV}=1: simulated test devices enabled (not for production)`);

let agent: EdgeAgent;
let restarting = false;
const create = () =>
  new EdgeAgent(config, log, registry, {
    ...(secret ? { keys: secret.keys, hubConfigPath: join(dirname(secretFile), 'hub-config.json') } : {}),
    logTail: ring,
    onRestart: () => void restart(),
  });

/** `gateway.restart`: stop everything (the outbox drains), read the config again, start afresh. */
async function restart(): Promise<void> {
  if (restarting || stopping) return;
  restarting = true;
  log.info('restart requested by the hub');
  try {
    await agent.stop();
    config = load();
    agent = create();
    await agent.start();
    log.info('restarted');
  } catch (err) {
    log.error({ err }, 'restart failed; exiting for the supervisor to start the agent');
    process.exit(1);
  } finally {
    restarting = false;
  }
}

agent = create();
await agent.start();

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    agent.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  });
}
