/**
 * Provisioning from the hub (issue 22), through real parts: a hub with its embedded broker, real edge
 * agent processes that are given only the hub URL and an enrolment code, the ONVIF camera simulator
 * (real SOAP, Digest/WS-UsernameToken, WS-Discovery) and the simulated sensors.
 *
 * - enrolment: code + QR from the REST route, `QLY_ENROLL_URL`/`QLY_ENROLL_CODE` → online; a reused,
 *   expired, another hub's code, and a hub whose TLS certificate the gateway does not trust are
 *   refused with a clear message (the untrusted hub receives nothing), counted and audited;
 * - desired devices: a camera added with its password, a credential error reported per device, a bad
 *   version refused whole while the old devices keep publishing, a version pushed while the gateway is
 *   down applied when it returns; discovery, log tail, restart and the fleet's version report;
 * - a village operator is refused on every route, counted and audited;
 * - the camera password never appears in the hub's log, its state database files, any API answer or
 *   the audit log (searched byte for byte), nor in the gateway's stored config.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { AGENT_VERSION, type ConfigReportView, compareVersions } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../edge-agent/src/adapters/onvif-camera/simulator/index.ts';
import { randomSecret } from '../hub/src/security/passwords.ts';
import { EnrolledEdge } from './support/enrolled-edge.ts';
import { startTestHub, type TestHub } from './support/hub.ts';
import { MosquittoBroker } from './support/mosquitto.ts';
import { MOSQUITTO, systemBinary } from './support/system.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'demo-village';
const GW = 'gw-prov';
const CAM_PASSWORD = 'Cam-Pass-7f3e9a';
const WRONG_PASSWORD = 'not-the-password';
const OPERATOR_PASSWORD = 'operator-password-1';
const AT = { lat: 30.042, lon: 119.951 };

describe('provisioning from the hub', () => {
  let hub: TestHub;
  let other: TestHub;
  let cam: CameraSimulator;
  const logLines: string[] = [];
  /** Every answer body the hub gave in this test, searched for the password at the end. */
  const answers: string[] = [];
  const agents: EnrolledEdge[] = [];
  let edge: EnrolledEdge;
  let admin: string;

  const api = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(`${hub.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token ?? admin}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    answers.push(text);
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const newCode = async (gateway: string, ttlMinutes?: number) => {
    const res = await api('POST', '/api/enrolments', {
      gateway,
      site: SITE,
      ...(ttlMinutes ? { ttlMinutes } : {}),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { code: string; command: string; qrSvg: string; hubUrl: string; expiresAt: number };
  };
  const report = async (version: number): Promise<ConfigReportView> =>
    waitFor(
      `gateway report on version ${version}`,
      async () => {
        const r = (await api('GET', `/api/gateways/${GW}/config`)).body.report as ConfigReportView | null;
        return r && r.version === version ? r : undefined;
      },
      40_000,
      200,
    );
  const camera = (id: string, password: unknown) => ({
    type: 'onvif-camera',
    id,
    name: `camera ${id}`,
    position: AT,
    xaddr: cam.xaddr,
    username: 'admin',
    password,
    reconnectMinMs: 200,
    reconnectMaxMs: 1000,
    credentialRetryMinMs: 1000,
  });
  const sensor = (id: string) => ({
    type: 'sim-sensor',
    id,
    name: `sensor ${id}`,
    position: AT,
    intervalMs: 200,
  });

  beforeAll(async () => {
    cam = new CameraSimulator({
      credentials: { username: 'admin', password: CAM_PASSWORD },
      discoveryPort: 0,
    });
    await cam.start();
    // The agent here is the current release; the hub asks for a newer one, so it is flagged.
    hub = await startTestHub({ logLines, config: { fleet: { minAgentVersion: '0.3.1' } } });
    other = await startTestHub();
    admin = await hub.token();
    const created = await api('POST', '/api/users', {
      username: 'village-op',
      password: OPERATOR_PASSWORD,
      role: 'village_operator',
      sites: [SITE],
    });
    expect(created.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    for (const a of agents) {
      await a.stop();
      rmSync(a.dir, { recursive: true, force: true });
    }
    await cam?.stop();
    await hub?.close();
    await other?.close();
  });

  it('a gateway started with only the hub URL and a code enrols and comes online', async () => {
    const issued = await newCode(GW);
    expect(issued.code).toMatch(/^QLY-[A-Z2-7]{6}-[A-Z2-7]{20}$/);
    expect(issued.command).toBe(`edge-agent enroll ${hub.baseUrl} ${issued.code}`);
    expect(issued.qrSvg.startsWith('<svg')).toBe(true);
    expect(issued.expiresAt).toBeGreaterThan(Date.now() + 50 * 60_000);
    // Registered, not yet enrolled: no credential, so no session is possible yet.
    expect(hub.app.stateDb.getGateway(GW)?.passwordHash).toBeNull();

    edge = new EnrolledEdge();
    agents.push(edge);
    edge.start({ hubUrl: hub.baseUrl, code: issued.code });
    await waitFor('the gateway online', () => hub.app.registry.getGateway(GW)?.online, 30_000);
    expect(statSync(edge.secretFile).mode & 0o777).toBe(0o600);
    const secret = JSON.parse(readFileSync(edge.secretFile, 'utf8'));
    expect(secret.gateway).toEqual({ id: GW, site: SITE });
    expect(secret.keys.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(edge.output).not.toContain(secret.mqtt.password);

    const audit = await api('GET', '/api/audit?action=gateway.enrol');
    expect(audit.body).toEqual([expect.objectContaining({ target: GW, outcome: 'ok' })]);
  }, 60_000);

  it('a reused, expired or foreign code, and an untrusted hub certificate, are refused, counted and audited', async () => {
    const second = new EnrolledEdge();
    agents.push(second);
    // Reused: the code the first gateway spent.
    const spent = (await api('GET', '/api/audit?action=gateway.enrolment_code')).body.length;
    expect(spent).toBe(1);
    const codeOf = async (gateway: string, ttl?: number) => (await newCode(gateway, ttl)).code;
    const reusedCode = await codeOf('gw-twice');
    expect((await second.enroll(hub.baseUrl, reusedCode)).code).toBe(0);
    const again = new EnrolledEdge();
    agents.push(again);
    const reused = await again.enroll(hub.baseUrl, reusedCode);
    expect(reused.code).toBe(3);
    expect(reused.out).toContain('already used');

    // Expired: the code's time is up (its row aged in place of waiting an hour).
    const expiredCode = await codeOf('gw-late', 1);
    hub.app.stateDb.handle
      .prepare('UPDATE enrolment_codes SET expires_at = ? WHERE gateway = ?')
      .run(Date.now() - 1, 'gw-late');
    const expired = await again.enroll(hub.baseUrl, expiredCode);
    expect(expired.code).toBe(3);
    expect(expired.out).toContain('expired');

    // Another hub's code: issued by `other`, presented here.
    const res = await other.app.inject({
      method: 'POST',
      url: '/api/enrolments',
      headers: { authorization: `Bearer ${await other.token()}` },
      payload: { gateway: 'gw-elsewhere', site: SITE },
    });
    const foreign = await again.enroll(hub.baseUrl, (res.json() as { code: string }).code);
    expect(foreign.code).toBe(3);
    expect(foreign.out).toContain('issued by another hub');

    // A hub whose certificate the gateway does not trust: refused before anything is sent.
    const certDir = again.dir;
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        join(certDir, 'key.pem'),
        '-out',
        join(certDir, 'cert.pem'),
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    let requests = 0;
    const impostor = createServer(
      { cert: readFileSync(join(certDir, 'cert.pem')), key: readFileSync(join(certDir, 'key.pem')) },
      (_req, res) => {
        requests += 1;
        res.end('{}');
      },
    );
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    const port = (impostor.address() as { port: number }).port;
    const untrusted = await again.enroll(`https://127.0.0.1:${port}`, await codeOf('gw-tls'));
    impostor.close();
    expect(untrusted.code).toBe(4);
    expect(untrusted.out).toContain('TLS certificate is not trusted');
    expect(requests).toBe(0);
    expect(statSync(again.dir).isDirectory() && readdirSync(again.dir)).not.toContain('gateway-secret.json');

    for (const reason of ['used_code', 'expired_code', 'foreign_hub'])
      expect(await hub.metric('qly_enrol_refused_total', { reason }), reason).toBe(1);
    const denied = (await api('GET', '/api/audit?action=gateway.enrol')).body as Array<{
      outcome: string;
      detail: { reason?: string };
    }>;
    expect(
      denied
        .filter((e) => e.outcome === 'denied')
        .map((e) => e.detail.reason)
        .sort(),
    ).toEqual(['expired_code', 'foreign_hub', 'used_code']);
  }, 90_000);

  it('a village operator is refused on every provisioning and fleet route, counted and audited', async () => {
    const op = await hub.token('village-op', OPERATOR_PASSWORD);
    const calls: Array<[string, string, unknown?]> = [
      ['POST', '/api/enrolments', { gateway: 'gw-op', site: SITE }],
      ['GET', `/api/gateways/${GW}/config`],
      ['PUT', `/api/gateways/${GW}/config`, { devices: [] }],
      ['GET', '/api/fleet'],
      ['POST', `/api/gateways/${GW}/restart`],
      ['GET', `/api/gateways/${GW}/logs`],
      ['POST', `/api/gateways/${GW}/discover`, {}],
    ];
    for (const [method, path, body] of calls) {
      const res = await api(method, path, body, op);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(await hub.metric('qly_admin_refused_total', { route: 'GET /api/fleet' })).toBe(1);
    const audit = (await api('GET', '/api/audit?action=admin.refused')).body as Array<{ actor: string }>;
    expect(audit).toHaveLength(calls.length);
    expect(new Set(audit.map((e) => e.actor))).toEqual(new Set(['village-op']));
    expect(hub.app.stateDb.getGateway('gw-op')).toBeUndefined();
  });

  it('devices from the hub: applied without a restart, results per device, a bad version refused whole', async () => {
    const v1 = await api('PUT', `/api/gateways/${GW}/config`, {
      baseVersion: 0,
      devices: [sensor('s1'), camera('cam1', CAM_PASSWORD), camera('cam7', WRONG_PASSWORD)],
    });
    expect(v1.status, JSON.stringify(v1.body)).toBe(200);
    expect(v1.body.version).toBe(1);
    expect(v1.body.devices[1].password).toEqual({ set: true });
    const r1 = await report(1);
    expect(r1.status).toBe('applied');
    const byId = new Map(r1.devices.map((d) => [d.id, d]));
    expect(byId.get('s1')).toMatchObject({ outcome: 'started', online: true });
    expect(byId.get('cam1')).toMatchObject({ outcome: 'started', online: true });
    expect(byId.get('cam7')).toMatchObject({ outcome: 'started', online: false });
    expect(byId.get('cam7')?.reason).toMatch(/UNAUTHORIZED|credential/i);
    await waitFor(
      'the camera on the map',
      () => hub.app.registry.getDevice(`${GW}.cam1`)?.status === 'online',
    );

    // A version with a device its adapter refuses: refused whole, the old devices keep running.
    const v2 = await api('PUT', `/api/gateways/${GW}/config`, {
      baseVersion: 1,
      devices: [sensor('s1'), { type: 'onvif-camera', id: 'cam9', name: 'no address', position: AT }],
    });
    expect(v2.status).toBe(200);
    const r2 = await report(2);
    expect(r2.status).toBe('refused');
    expect(r2.running).toBe(1);
    expect(r2.problems.join('\n')).toMatch(/\/devices\/1\/xaddr/);
    const before = hub.app.registry.getDevice(`${GW}.s1`)?.valuesTs ?? 0;
    await waitFor(
      's1 still publishing',
      () => (hub.app.registry.getDevice(`${GW}.s1`)?.valuesTs ?? 0) > before + 400,
    );
    expect(hub.app.registry.getDevice(`${GW}.cam1`)?.status).toBe('online');

    // More than one MQTT message can carry: refused at the hub, nothing stored.
    const huge = await api('PUT', `/api/gateways/${GW}/config`, {
      devices: [{ ...sensor('big'), name: 'x'.repeat(300_000) }],
    });
    expect(huge.status).toBe(413);
    expect((await api('GET', `/api/gateways/${GW}/config`)).body.version).toBe(2);
    // An edit based on an old version is refused: someone else changed it meanwhile.
    expect((await api('PUT', `/api/gateways/${GW}/config`, { baseVersion: 1, devices: [] })).status).toBe(
      409,
    );
  }, 90_000);

  it('a version pushed while the gateway is down is applied when it returns', async () => {
    expect(await edge.stop()).toBe(0);
    await waitFor('the gateway offline', () => hub.app.registry.getGateway(GW)?.online === false, 30_000);
    const v3 = await api('PUT', `/api/gateways/${GW}/config`, {
      baseVersion: 2,
      // cam1 keeps its stored password; cam7 is removed; s2 is new.
      devices: [sensor('s1'), sensor('s2'), camera('cam1', { set: true })],
    });
    expect(v3.status, JSON.stringify(v3.body)).toBe(200);
    edge.start(); // no code this time: the identity is in its secret file
    const r3 = await report(3);
    expect(r3.status).toBe('applied');
    const byId = new Map(r3.devices.map((d) => [d.id, d]));
    // It had version 1 running from its own disk; 3 changes only what differs.
    expect(byId.get('s2')).toMatchObject({ outcome: 'started', online: true });
    expect(byId.get('s1')?.outcome).toBe('unchanged');
    expect(byId.get('cam1')?.outcome).toBe('unchanged');
    expect(byId.get('cam7')?.outcome).toBe('stopped');
    await waitFor('s2 publishing', () => hub.app.registry.getDevice(`${GW}.s2`)?.valuesTs);
    await waitFor(
      'cam1 online again',
      () => hub.app.registry.getDevice(`${GW}.cam1`)?.status === 'online',
      20_000,
    );
  }, 90_000);

  it('fleet: discovery through the gateway, a bounded log tail, a remote restart and the version report', async () => {
    const found = await api('POST', `/api/gateways/${GW}/discover`, {
      timeoutMs: 800,
      targets: [`127.0.0.1:${cam.discoveryPort}`],
    });
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.cameras).toContainEqual(
      expect.objectContaining({ endpoint: cam.endpoint, xaddrs: [cam.xaddr], device: 'cam1' }),
    );

    const logs = await api('GET', `/api/gateways/${GW}/logs?lines=20`);
    expect(logs.status).toBe(200);
    expect(logs.body.lines.length).toBeGreaterThan(0);
    expect(logs.body.lines.length).toBeLessThanOrEqual(20);
    expect(logs.body.lines.some((l: string) => l.includes('hub config applied'))).toBe(true);

    const startedBefore = (await api('GET', '/api/fleet')).body.gateways.find(
      (g: { id: string }) => g.id === GW,
    ).startedAt as number;
    expect(startedBefore).toBeGreaterThan(0);
    const restart = await api('POST', `/api/gateways/${GW}/restart`);
    expect(restart.status, JSON.stringify(restart.body)).toBe(200);
    await waitFor(
      'the gateway restarted in place',
      async () => {
        const g = (await api('GET', '/api/fleet')).body.gateways.find((x: { id: string }) => x.id === GW);
        return g.online && g.startedAt > startedBefore;
      },
      30_000,
      200,
    );
    expect(edge.exitCode).toBeNull(); // the same process
    await waitFor('s1 publishing after the restart', async () => {
      const t = hub.app.registry.getDevice(`${GW}.s1`)?.valuesTs ?? 0;
      return t > Date.now() - 1000;
    });

    const fleet = (await api('GET', '/api/fleet')).body;
    expect(fleet.minAgentVersion).toBe('0.3.1');
    const me = fleet.gateways.find((g: { id: string }) => g.id === GW);
    expect(me).toMatchObject({
      version: AGENT_VERSION,
      outdated: true,
      enrolled: true,
      configVersion: 3,
      runningVersion: 3,
    });
    // Registered but never enrolled: nothing to update yet.
    expect(fleet.gateways.find((g: { id: string }) => g.id === 'gw-late')).toMatchObject({
      enrolled: false,
      outdated: false,
    });
    expect(fleet.outdated).toBe(2); // gw-prov, and gw-twice (enrolled, never connected: no version)
    expect(await hub.metric('qly_gateways_outdated')).toBe(2);
    expect(compareVersions(AGENT_VERSION, '0.3.1')).toBe(-1);
    expect(compareVersions('0.10.0', '0.9.9')).toBe(1);
  }, 90_000);

  it('over HTTPS: an untrusted hub certificate is refused before the code leaves; with its CA the gateway enrols and runs on mqtts://', async () => {
    const gateway = new EnrolledEdge();
    agents.push(gateway);
    const certFile = join(gateway.dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        join(gateway.dir, 'key.pem'),
      ].concat(['-out', certFile, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']),
      { stdio: 'ignore' },
    );
    const tlsHub = await startTestHub({
      config: {
        tls: { certFile, keyFile: join(gateway.dir, 'key.pem'), caFile: certFile },
        mqtt: { plaintext: false, tlsPort: 0 },
      },
    });
    try {
      const issued = await tlsHub.app.inject({
        method: 'POST',
        url: '/api/enrolments',
        headers: {
          authorization: `Bearer ${await tlsHub.token()}`,
          host: `127.0.0.1:${new URL(tlsHub.baseUrl).port}`,
        },
        payload: { gateway: 'gw-tls-ok', site: SITE },
      });
      const { code } = issued.json() as { code: string };
      const hubUrl = `https://127.0.0.1:${new URL(tlsHub.baseUrl).port}`;
      const untrusted = await gateway.enroll(hubUrl, code);
      expect(untrusted.code).toBe(4);
      expect(untrusted.out).toContain('TLS certificate is not trusted');
      // Nothing reached the hub: the same code still works, once the gateway trusts the hub's CA.
      const trusted = await gateway.enroll(hubUrl, code, ['--ca', certFile]);
      expect(trusted.out).toContain('enrolled as gateway gw-tls-ok');
      expect(trusted.code).toBe(0);
      const secret = JSON.parse(readFileSync(gateway.secretFile, 'utf8'));
      expect(secret.mqtt.url).toBe(`mqtts://127.0.0.1:${tlsHub.app.brokerPorts.tls}`);
      expect(secret.caFile).toBe(certFile);
      gateway.start();
      await waitFor(
        'the gateway online over mqtts',
        () => tlsHub.app.registry.getGateway('gw-tls-ok')?.online,
        30_000,
      );
    } finally {
      await gateway.stop();
      await tlsHub.close();
    }
  }, 90_000);

  it('a gateway can neither read another gateway’s config nor publish a config of its own', async () => {
    const secret = JSON.parse(readFileSync(agents[1]?.secretFile as string, 'utf8'));
    expect(secret.gateway.id).toBe('gw-twice');
    const client = await mqtt.connectAsync(hub.brokerUrl, {
      username: secret.mqtt.username,
      password: secret.mqtt.password,
      reconnectPeriod: 0,
    });
    try {
      const subRefused = await hub.metric('qly_broker_refused_total', { reason: 'subscribe_acl' });
      // SUBACK 0x80 (refused): MQTT.js rejects the subscription.
      await expect(client.subscribeAsync(`qly/v1/${SITE}/${GW}/config`, { qos: 1 })).rejects.toThrow(
        /Subscribe error/,
      );
      expect(await hub.metric('qly_broker_refused_total', { reason: 'subscribe_acl' })).toBe(subRefused + 1);
      const own = await client.subscribeAsync(`qly/v1/${SITE}/gw-twice/config`, { qos: 1 });
      expect(own[0]?.qos).toBe(1);
      const pubRefused = await hub.metric('qly_broker_refused_total', { reason: 'publish_acl' });
      client.publish(
        `qly/v1/${SITE}/gw-twice/config`,
        JSON.stringify({ version: 99, ts: Date.now(), devices: [] }),
        {
          qos: 0,
          retain: true,
        },
      );
      await waitFor(
        'the publish refused',
        async () => (await hub.metric('qly_broker_refused_total', { reason: 'publish_acl' })) > pubRefused,
      );
    } finally {
      await client.endAsync(true);
    }
  });

  it('the camera password is in no log, no state database file, no API answer and no audit entry', async () => {
    const auditAll = await api('GET', '/api/audit?limit=1000');
    expect(auditAll.body.length).toBeGreaterThan(10);
    const dbFiles = readdirSync(hub.dataDir, { recursive: true })
      .map(String)
      .filter((f) => /state|\.db/.test(f))
      .map((f) => join(hub.dataDir, f))
      .filter((f) => statSync(f).isFile());
    expect(dbFiles.length).toBeGreaterThan(0);
    // The sealed values are there (the state is complete), the clear password is not.
    const state = Buffer.concat(dbFiles.map((f) => readFileSync(f)));
    expect(state.includes('"sealed":"v1.')).toBe(true);
    for (const secret of [CAM_PASSWORD, WRONG_PASSWORD]) {
      expect(state.includes(secret), `state DB: ${secret}`).toBe(false);
      expect(logLines.join('\n').includes(secret), `hub log: ${secret}`).toBe(false);
      expect(answers.join('\n').includes(secret), `API answers: ${secret}`).toBe(false);
      expect(readFileSync(edge.hubConfigFile, 'utf8').includes(secret), `gateway's stored config`).toBe(
        false,
      );
      expect(edge.output.includes(secret), 'gateway log').toBe(false);
    }
    expect(logLines.length).toBeGreaterThan(10);
  });
});

describe.skipIf(!systemBinary(MOSQUITTO, 'mosquitto'))(
  'provisioning through Mosquitto (password file and ACL)',
  () => {
    it('enrols into the password file, delivers the retained config through the ACL, and again after an outage', async () => {
      const mosquitto = new MosquittoBroker();
      const hubPassword = randomSecret();
      mosquitto.addUser('qly-hub', hubPassword);
      await mosquitto.start();
      const hub = await startTestHub({
        mqttUrl: mosquitto.url,
        mqttPassword: hubPassword,
        config: {
          mqtt: {
            protocolVersion: 5,
            mosquitto: { passwordFile: mosquitto.passwordFile, pidFile: mosquitto.pidFile },
          },
        },
      });
      const edge = new EnrolledEdge();
      try {
        const headers = { authorization: `Bearer ${await hub.token()}`, 'content-type': 'application/json' };
        const issued = await fetch(`${hub.baseUrl}/api/enrolments`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ gateway: 'gw-mq', site: SITE }),
        });
        const { code } = (await issued.json()) as { code: string };
        edge.start({ hubUrl: hub.baseUrl, code });
        await waitFor(
          'the gateway online through Mosquitto',
          () => hub.app.registry.getGateway('gw-mq')?.online,
          30_000,
        );
        expect(readFileSync(mosquitto.passwordFile, 'utf8')).toMatch(/^gw-mq:\$7\$/m);
        const put = (version: number, ids: string[]) =>
          fetch(`${hub.baseUrl}/api/gateways/gw-mq/config`, {
            method: 'PUT',
            headers,
            body: JSON.stringify({
              baseVersion: version - 1,
              devices: ids.map((id) => ({ type: 'sim-sensor', id, name: id, position: AT, intervalMs: 200 })),
            }),
          });
        const reportOf = (version: number) =>
          waitFor(
            `report on ${version}`,
            () => {
              const r = hub.app.provisioning.view('gw-mq').report;
              return r?.version === version ? r : undefined;
            },
            30_000,
            100,
          );
        expect((await put(1, ['m1'])).status).toBe(200);
        expect((await reportOf(1)).devices).toEqual([{ id: 'm1', outcome: 'started', online: true }]);
        await waitFor('m1 publishing', () => hub.app.registry.getDevice('gw-mq.m1')?.valuesTs);
        expect(await edge.stop()).toBe(0);
        expect((await put(2, ['m1', 'm2'])).status).toBe(200);
        edge.start();
        expect((await reportOf(2)).devices.map((d) => `${d.id}:${d.outcome}`)).toEqual([
          'm1:unchanged',
          'm2:started',
        ]);
        await waitFor('m2 publishing', () => hub.app.registry.getDevice('gw-mq.m2')?.valuesTs);
      } finally {
        await edge.stop();
        rmSync(edge.dir, { recursive: true, force: true });
        await hub.close();
        await mosquitto.stop();
      }
    }, 90_000);
  },
);
