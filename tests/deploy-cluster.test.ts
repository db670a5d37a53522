/**
 * The cluster deployment (docker-compose.cluster.yml) checked the way CI can — no Docker engine
 * runs here: it parses, names the services, checks every hub by /healthz (compose and HAProxy),
 * hands the hubs only variables they read and a config they accept as a cluster, and the shipped
 * Mosquitto ACL lets each hub's MQTT users do what the cluster needs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_OVERRIDES as HUB_ENV, loadHubConfig } from '../hub/src/config.ts';

const root = new URL('..', import.meta.url);
interface Service {
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  pid?: string;
  secrets?: Array<string | { source: string }>;
  configs?: Array<{ source: string; target: string }>;
  command?: string[];
}
const compose = parse(readFileSync(new URL('docker-compose.cluster.yml', root), 'utf8')) as {
  services: Record<string, Service>;
  configs: Record<string, { file: string }>;
  secrets: Record<string, { file: string }>;
};
const hubs = Object.keys(compose.services).filter((s) => s.startsWith('hub-'));
const haproxy = readFileSync(new URL('deploy/haproxy/haproxy.cfg', root), 'utf8');

describe('docker-compose.cluster.yml', () => {
  it('runs Mosquitto, PostgreSQL, Redis, InfluxDB, two hubs and HAProxy', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['haproxy', 'hub-1', 'hub-2', 'influxdb', 'mosquitto', 'postgres', 'redis'].sort(),
    );
  });

  it('checks every hub by /healthz, in compose and in the load balancer', () => {
    expect(haproxy).toMatch(/option httpchk GET \/healthz/);
    for (const hub of hubs) {
      expect(compose.services[hub]?.healthcheck?.test.join(' '), hub).toContain('/healthz');
      expect(haproxy, hub).toMatch(new RegExp(`server ${hub} ${hub}:8080 check`));
    }
  });

  it('gives each hub only variables it reads, its own id and volume, and a config valid for a cluster', () => {
    const known = new Set(Object.keys(HUB_ENV));
    const ids = new Set<string>();
    const dataVolumes = new Set<string>();
    for (const hub of hubs) {
      const svc = compose.services[hub] as Service;
      for (const name of Object.keys(svc.environment ?? {})) expect(known, `${hub}: ${name}`).toContain(name);
      const target = svc.configs?.[0]?.target as string;
      expect(svc.command).toContain(target);
      const file = compose.configs[svc.configs?.[0]?.source as string]?.file as string;
      // loadHubConfig refuses a cluster without PostgreSQL, InfluxDB, an external broker or a shared key.
      const config = loadHubConfig(new URL(file, root).pathname, svc.environment ?? {});
      expect(config.cluster.redisUrl).toBe('redis://redis:6379');
      expect(config.state.backend).toBe('postgres');
      ids.add(config.cluster.hubId);
      const data = (svc.volumes ?? []).find((v) => v.endsWith(':/data'));
      expect(data, hub).toBeDefined();
      dataVolumes.add(data as string);
      expect(svc.pid).toBe('service:mosquitto');
      // Every secret file the config names is mounted.
      const secrets = (svc.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source));
      for (const path of [
        config.auth.jwtSecretFile,
        config.mqtt.passwordFile,
        config.state.postgres.passwordFile,
        config.timeseries.influxdb.passwordFile,
      ])
        expect(
          secrets.map((s) => `/run/secrets/${s}`),
          hub,
        ).toContain(path);
      expect(config.cluster.ingestSlots).toBeGreaterThanOrEqual(hubs.length);
    }
    expect(ids.size).toBe(hubs.length);
    expect(dataVolumes.size).toBe(hubs.length);
  });

  it('references only files that exist in the repository (secrets are made by the operator)', () => {
    const mounted = Object.values(compose.services)
      .flatMap((svc) => svc.volumes ?? [])
      .map((v) => v.split(':')[0] as string)
      .filter((src) => src.startsWith('./'));
    for (const file of [...mounted, ...Object.values(compose.configs).map((c) => c.file)])
      expect(existsSync(new URL(file, root)), file).toBe(true);
    for (const s of Object.values(compose.secrets)) expect(s.file.startsWith('./secrets/')).toBe(true);
  });

  it('the shipped ACL names every MQTT user of the cluster (slot sessions and hub publishers)', () => {
    const acl = readFileSync(new URL('deploy/mosquitto/acl', root), 'utf8');
    const file = compose.configs['hub-config']?.file as string;
    for (const hub of hubs) {
      const config = loadHubConfig(new URL(file, root).pathname, compose.services[hub]?.environment ?? {});
      const users = [
        `${config.mqtt.username}@${config.cluster.hubId}`,
        ...Array.from({ length: config.cluster.ingestSlots }, (_, i) => `${config.mqtt.username}-${i + 1}`),
      ];
      for (const u of users) expect(acl, u).toContain(`user ${u}\ntopic readwrite qly/v1/#`);
    }
  });
});
