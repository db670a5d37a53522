/**
 * No Docker engine runs on the build machines, so the compose file is checked the way CI can:
 * it parses, names the expected services, and every config file and variable it hands the hub and
 * the agent is one they accept.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_OVERRIDES as EDGE_ENV, loadEdgeConfig } from '../edge-agent/src/config.ts';
import { ENV_OVERRIDES as HUB_ENV, loadHubConfig } from '../hub/src/config.ts';

const root = new URL('..', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<
    string,
    {
      environment?: Record<string, string>;
      volumes?: string[];
      healthcheck?: { test: string[] };
      pid?: string;
      secrets?: Array<string | { source: string }>;
      entrypoint?: string[];
    }
  >;
  configs: Record<string, { file: string }>;
  secrets: Record<string, { file: string }>;
};

describe('docker-compose.yml', () => {
  it('defines the broker, InfluxDB, the hub and an edge agent', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['edge', 'hub', 'influxdb', 'mosquitto']);
  });

  it('configures the hub for InfluxDB with the password from the secret InfluxDB itself uses', () => {
    const env = compose.services.hub?.environment ?? {};
    const hub = loadHubConfig(new URL('deploy/hub.json', root).pathname, env);
    expect(hub.timeseries.backend).toBe('influxdb');
    expect(hub.timeseries.influxdb.url).toBe('http://influxdb:8086');
    expect(hub.timeseries.influxdb.passwordFile).toBe('/run/secrets/influxdb-password');
    expect(hub.timeseries.influxdb.username).toBe(
      compose.services.influxdb?.environment?.INFLUXDB_ADMIN_USER,
    );
    expect(compose.services.hub?.secrets).toContain('influxdb-password');
    expect(compose.services.influxdb?.secrets).toContain('influxdb-password');
    expect(compose.services.influxdb?.entrypoint?.join(' ')).toContain('/run/secrets/influxdb-password');
    expect(compose.secrets['influxdb-password']?.file).toBe('./secrets/influxdb-password');
  });

  it('passes the hub only variables the hub reads', () => {
    const known = new Set([...Object.keys(HUB_ENV), 'ADMIN_PASSWORD']);
    for (const name of Object.keys(compose.services.hub?.environment ?? {}))
      expect(known, name).toContain(name);
  });

  it('passes the edge agent only variables the agent reads', () => {
    const known = new Set([...Object.keys(EDGE_ENV), 'QLY_MQTT_PASSWORD']);
    for (const name of Object.keys(compose.services.edge?.environment ?? {}))
      expect(known, name).toContain(name);
  });

  it('references only files that exist in the repository (secrets are made by the operator)', () => {
    const mounted = Object.values(compose.services)
      .flatMap((svc) => svc.volumes ?? [])
      .map((v) => v.split(':')[0] as string)
      .filter((src) => src.startsWith('./'));
    const configs = Object.values(compose.configs).map((c) => c.file);
    expect(mounted.length).toBeGreaterThan(0);
    for (const file of [...mounted, ...configs]) expect(existsSync(new URL(file, root)), file).toBe(true);
  });

  it('checks the hub by its unauthenticated liveness probe', () => {
    expect(compose.services.hub?.healthcheck?.test.join(' ')).toContain('/healthz');
  });

  it('lets the hub manage Mosquitto’s credentials: shared auth volume and PID namespace', () => {
    const hub = loadHubConfig(new URL('deploy/hub.json', root).pathname, {});
    const conf = readFileSync(new URL('deploy/mosquitto/mosquitto.conf', root), 'utf8');
    const authMount = (svc: string) =>
      (compose.services[svc]?.volumes ?? []).find((v) => v.startsWith('mosquitto-auth:'))?.split(':')[1];
    const inHub = authMount('hub') as string;
    const inBroker = authMount('mosquitto') as string;
    expect(hub.mqtt.mosquitto.passwordFile).toBe(`${inHub}/passwd`);
    expect(hub.mqtt.mosquitto.pidFile).toBe(`${inHub}/mosquitto.pid`);
    expect(conf).toContain(`password_file ${inBroker}/passwd`);
    expect(conf).toContain(`pid_file ${inBroker}/mosquitto.pid`);
    expect(compose.services.hub?.pid).toBe('service:mosquitto');
    expect(hub.mqtt.protocolVersion).toBe(5);
  });

  it('ships config files the processes accept', () => {
    expect(() => loadHubConfig(new URL('deploy/hub.json', root).pathname, {})).not.toThrow();
    expect(() => loadEdgeConfig(new URL('deploy/edge/gw-01.json', root).pathname, {})).not.toThrow();
    expect(() =>
      loadEdgeConfig(new URL('edge-agent/config/demo-village.json', root).pathname, {}),
    ).not.toThrow();
  });
});

describe('dashboard bundle', () => {
  it('does not ship the schema compiler (validators live behind @qianliyan/protocols/validate)', () => {
    const dir = new URL('dashboard/dist/assets/', root);
    const scripts = readdirSync(dir).filter((f) => f.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    for (const f of scripts) {
      const text = readFileSync(new URL(f, dir), 'utf8');
      // Messages that only TypeBox's compiler/error module carries.
      expect(text, f).not.toContain('Expected array length to be greater or equal to');
      expect(text, f).not.toContain('TypeCompiler');
    }
  });
});
