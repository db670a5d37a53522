/**
 * A hub process for a benchmark: free loopback ports, the embedded broker, a known admin password,
 * signed in, with helpers for the REST calls every bench makes (registering gateways).
 */
import { requireTestBuild, TEST_DASHBOARD_DIR } from './dashboard.ts';
import { HubProcess } from './hub-process.ts';
import { freePort } from './wait.ts';

const ADMIN_PASSWORD = 'bench-admin-password';

export class BenchHub {
  private constructor(
    readonly process: HubProcess,
    readonly base: string,
    readonly mqttUrl: string,
    readonly token: string,
  ) {}

  /** Starts the hub on `dir` with `config` merged over the bench defaults, and signs in. */
  static async start(dir: string, config: Record<string, unknown> = {}): Promise<BenchHub> {
    requireTestBuild();
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const hub = new HubProcess(
      dir,
      {
        host: '127.0.0.1',
        port: httpPort,
        logLevel: 'warn',
        auth: { scryptLog2N: 12 },
        mqtt: { embeddedHost: '127.0.0.1', embeddedPort: mqttPort },
        // Benches read frame times and lag probes through the test build's hook.
        dashboardDir: TEST_DASHBOARD_DIR,
        ...config,
      },
      { ADMIN_PASSWORD },
    );
    await hub.start();
    const base = `http://127.0.0.1:${httpPort}`;
    const res = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    const { token } = (await res.json()) as { token: string };
    return new BenchHub(hub, base, `mqtt://127.0.0.1:${mqttPort}`, token);
  }

  /** A REST call as the admin (or `token`); the JSON answer, or an error with the status. */
  async api<T = Record<string, unknown>>(path: string, body?: unknown, token = this.token): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** One sample of a Prometheus metric (`NaN` when the hub does not have it). */
  async metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
    const res = await fetch(`${this.base}/metrics`, { headers: { authorization: `Bearer ${this.token}` } });
    const wanted = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    const line = (await res.text())
      .split('\n')
      .find((l) => l.startsWith(wanted ? `${name}{${wanted}}` : `${name} `));
    return line ? Number(line.split(' ').at(-1)) : Number.NaN;
  }

  /** Registers a gateway at a site; its MQTT password. */
  async registerGateway(id: string, site: string): Promise<string> {
    return (await this.api<{ password: string }>('/api/gateways', { id, site })).password;
  }

  stop(): Promise<void> {
    return this.process.stop('SIGTERM');
  }
}
