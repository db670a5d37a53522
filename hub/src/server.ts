/** Hub entry point: load and validate the config, build the app, listen, print where to go. */
import { ConfigError } from '@qianliyan/protocols/config';
import { buildApp } from './app.ts';
import { loadHubConfig } from './config.ts';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export async function startHub(configPath = argValue('--config') ?? process.env.QLY_HUB_CONFIG) {
  let config: ReturnType<typeof loadHubConfig>;
  try {
    config = loadHubConfig(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp(config);
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number };
    if (e.code === 'EADDRINUSE') {
      const which = e.port === config.port ? 'HTTP port (PORT)' : 'embedded MQTT port (QLY_MQTT_PORT)';
      process.stderr.write(`cannot start: ${which} ${e.port} is already in use by another program\n`);
      process.exit(1);
    }
    throw err;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'stopping');
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await startHub();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : app.config.port;
  const scheme = app.config.tls.certFile ? 'https' : 'http';
  process.stdout.write(`\nQianliyan hub ready: ${scheme}://localhost:${port}/\n`);
  if (app.bootstrap.adminPassword) {
    process.stdout.write(
      `First start: user "admin", password "${app.bootstrap.adminPassword}" (shown once; change it)\n\n`,
    );
  }
}
