/**
 * TLS end to end with a self-signed certificate made for the test (openssl): the hub serves HTTPS and
 * WSS on its port; the embedded broker serves MQTT over TLS on its own port and, with plaintext off,
 * nothing else; a gateway on mqtts:// with the CA delivers telemetry. The same against Mosquitto
 * with only its TLS listener, the hub connecting with `mqtt.caFile`. Plaintext is refused where TLS
 * is required.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { randomSecret } from '../hub/src/security/passwords.ts';
import { startTestHub } from './support/hub.ts';
import { MosquittoBroker } from './support/mosquitto.ts';
import { MOSQUITTO, systemBinary } from './support/system.ts';
import { startUplink } from './support/uplink.ts';
import { waitFor } from './support/wait.ts';

const SITE = 'village-tls';
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A self-signed certificate for 127.0.0.1, valid one day. */
function makeCertificate(dir: string) {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
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
      keyFile,
      '-out',
      certFile,
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, ca: readFileSync(certFile, 'utf8') };
}

function getStatus(url: string, ca?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url, ca ? { ca } : {}, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Whether an MQTT connection gets a CONNACK (settles on close or error too, which connectAsync does not). */
function mqttConnects(url: string, username: string, password: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      clientId: username,
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      ...(ca ? { ca } : {}),
    });
    const done = (ok: boolean) => {
      client.end(true);
      resolve(ok);
    };
    client.once('connect', () => done(true));
    client.once('error', () => done(false));
    client.once('close', () => done(false));
  });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('TLS', () => {
  it('the hub: HTTPS and WSS on its port, MQTT over TLS only; a gateway on mqtts:// delivers', async () => {
    const cert = makeCertificate(mkdtempSync(join(tmpdir(), 'qly-tls-')));
    const hub = await startTestHub({
      config: {
        tls: { certFile: cert.certFile, keyFile: cert.keyFile, caFile: cert.certFile },
        mqtt: { plaintext: false, tlsPort: 0 },
      },
    });
    cleanups.push(() => hub.close());
    const port = new URL(hub.baseUrl).port;
    expect(await getStatus(`https://127.0.0.1:${port}/healthz`, cert.ca)).toBe(200);
    await expect(getStatus(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow(); // plaintext HTTP refused
    await expect(getStatus(`https://127.0.0.1:${port}/healthz`)).rejects.toThrow(); // an unknown CA refused

    const { plain, tls } = hub.app.brokerPorts;
    expect(plain).toBe(0);
    expect(tls).toBeGreaterThan(0);
    expect(hub.brokerUrl).toBe(`mqtts://127.0.0.1:${tls}`);
    const password = await hub.provisionGateway('gw-tls', SITE);
    // Plain MQTT spoken to the TLS port goes nowhere.
    expect(await mqttConnects(`mqtt://127.0.0.1:${tls}`, 'gw-tls', password)).toBe(false);
    const edge = await startUplink(hub.brokerUrl, SITE, 'gw-tls', password, 1000, undefined, cert.ca);
    cleanups.push(() => edge.close());
    for (let i = 0; i < 50; i++)
      edge.send(topics.telemetry(SITE, 'gw-tls', 'd'), { ts: Date.now(), values: { i } });
    await waitFor('50 stored over TLS', async () => (await hub.store.countTelemetry()) === 50);

    const socket = io(`https://127.0.0.1:${port}`, {
      path: '/socket.io',
      auth: { token: await hub.token() },
      transports: ['websocket'],
      ca: cert.ca,
      reconnection: false,
    });
    cleanups.push(() => socket.disconnect());
    const snapshot = new Promise<{ gateways: unknown[] }>((resolve) => socket.once('snapshot', resolve));
    socket.on('connect', () => socket.emit('subscribe', {}));
    expect((await snapshot).gateways).toHaveLength(1);
  });

  it.skipIf(!systemBinary(MOSQUITTO, 'mosquitto'))(
    'Mosquitto with only its TLS listener: the hub and a gateway connect with the CA; plaintext is refused',
    async () => {
      const cert = makeCertificate(mkdtempSync(join(tmpdir(), 'qly-tls-')));
      const broker = new MosquittoBroker({
        plaintext: false,
        tls: { certFile: cert.certFile, keyFile: cert.keyFile },
      });
      const hubPassword = randomSecret();
      broker.addUser('qly-hub', hubPassword);
      await broker.start();
      cleanups.push(() => broker.stop());
      const hub = await startTestHub({
        mqttUrl: broker.tlsUrl,
        mqttPassword: hubPassword,
        config: {
          mqtt: {
            caFile: cert.certFile,
            protocolVersion: 5,
            mosquitto: { passwordFile: broker.passwordFile, pidFile: broker.pidFile },
          },
        },
      });
      cleanups.push(() => hub.close());
      const password = await hub.provisionGateway('gw-mtls', SITE);
      expect(await refused(broker.port || 1)).toBe(true); // no plaintext listener at all
      await waitFor('credential loaded', () => mqttConnects(broker.tlsUrl, 'gw-mtls', password, cert.ca));
      const edge = await startUplink(broker.tlsUrl, SITE, 'gw-mtls', password, 1000, undefined, cert.ca);
      cleanups.push(() => edge.close());
      for (let i = 0; i < 50; i++)
        edge.send(topics.telemetry(SITE, 'gw-mtls', 'd'), { ts: Date.now(), values: { i } });
      await waitFor(
        '50 stored through Mosquitto over TLS',
        async () => (await hub.store.countTelemetry()) === 50,
      );
    },
  );
});
