/**
 * Edge agent entry point: `node --import tsx edge-agent/src/main.ts --config FILE`.
 * `QLY_DEV_ADAPTERS=1` adds the simulated test devices (`sim-*`, tests and development only); the
 * production adapters never import them.
 */
import { ConfigError } from '@qianliyan/protocols/config';
import pino from 'pino';
import { ADAPTERS, type AdapterRegistry, DEV_ADAPTERS_ENV } from './adapters/registry.ts';
import { EdgeAgent } from './agent.ts';
import { loadEdgeConfig } from './config.ts';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const devAdapters = process.env[DEV_ADAPTERS_ENV] === '1';
const registry: AdapterRegistry = devAdapters
  ? { ...ADAPTERS, ...(await import('./dev-adapters/registry.ts')).DEV_ADAPTERS }
  : ADAPTERS;

let config: ReturnType<typeof loadEdgeConfig>;
try {
  config = loadEdgeConfig(argValue('--config') ?? process.env.QLY_EDGE_CONFIG, process.env, registry);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const log = pino({
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
});
if (devAdapters) log.warn(`${DEV_ADAPTERS_ENV}=1: simulated test devices enabled (not for production)`);
const agent = new EdgeAgent(config, log, registry);
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
