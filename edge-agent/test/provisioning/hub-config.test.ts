/**
 * A config version from the hub made ready at the gateway: secrets sealed by the hub's own code are
 * opened with this gateway's key only, for the device and field they were sealed for; any device its
 * adapter refuses makes the whole version refused; the log tail stays bounded.
 */
import { type GatewayConfig, MAX_LOG_TAIL_BYTES, sealedSecretContext } from '@qianliyan/protocols';
import { describe, expect, it } from 'vitest';
import { sealSecret } from '../../../hub/src/security/sealed-secrets.ts';
import { ADAPTERS } from '../../src/adapters/registry.ts';
import { prepareConfig } from '../../src/provisioning/hub-config.ts';
import { LogRing } from '../../src/provisioning/log-ring.ts';
import { newGatewayKeyPair } from '../../src/provisioning/sealed-secrets.ts';

const camera = (id: string, password: unknown) => ({
  type: 'onvif-camera',
  id,
  name: id,
  position: { lat: 30, lon: 120 },
  xaddr: 'http://192.168.1.64/onvif/device_service',
  username: 'admin',
  password,
});

describe('a hub config at the gateway', () => {
  const keys = newGatewayKeyPair();
  const sealFor = (gateway: string, device: string, secret: string, key = keys.publicKey) =>
    ({ sealed: sealSecret(key, secret, sealedSecretContext(gateway, device, 'password')) }) as const;

  it('opens each password sealed to this gateway, device and field', () => {
    const prepared = prepareConfig(
      { version: 1, ts: 1, devices: [camera('cam1', sealFor('gw1', 'cam1', 's3cret'))] },
      'gw1',
      keys,
      ADAPTERS,
      new Set(),
    );
    expect(prepared.ok).toBe(true);
    if (prepared.ok) {
      expect(prepared.devices[0]?.config.password).toBe('s3cret');
      expect(prepared.devices[0]?.fingerprint).not.toContain('s3cret');
    }
  });

  it('refuses the whole version for a secret sealed elsewhere, a bad device, or a taken id', () => {
    const other = newGatewayKeyPair();
    const refused = prepareConfig(
      {
        version: 2,
        ts: 1,
        devices: [
          camera('cam1', sealFor('gw1', 'cam1', 'ok')),
          camera('cam2', sealFor('gw1', 'cam1', 'moved')), // sealed for cam1
          camera('cam3', sealFor('gw1', 'cam3', 'x', other.publicKey)), // another gateway's key
          { type: 'onvif-camera', id: 'cam4', name: 'no address', position: { lat: 30, lon: 120 } },
          { type: 'fax-machine', id: 'f1' },
          camera('local', sealFor('gw1', 'local', 'y')),
        ] as GatewayConfig['devices'],
      },
      'gw1',
      keys,
      ADAPTERS,
      new Set(['local']),
    );
    expect(refused.ok).toBe(false);
    const problems = refused.ok ? [] : refused.problems;
    expect(problems.some((p) => p.startsWith('/devices/1/password: cannot open'))).toBe(true);
    expect(problems.some((p) => p.startsWith('/devices/2/password: cannot open'))).toBe(true);
    expect(problems.some((p) => p.startsWith('/devices/3/xaddr'))).toBe(true);
    expect(problems.some((p) => p.startsWith('/devices/4/type: unknown device type'))).toBe(true);
    expect(problems).toContain('/devices/5/id: duplicate device id local');
    expect(problems.join('\n')).not.toMatch(/moved|\bok\b/);
  });

  it('keeps a bounded log tail: the newest lines, at most the byte bound', () => {
    const ring = new LogRing(10);
    for (let i = 1; i <= 25; i++) ring.write(`{"msg":"line ${i}"}\n`);
    expect(ring.tail(3)).toEqual(['{"msg":"line 23"}', '{"msg":"line 24"}', '{"msg":"line 25"}']);
    expect(ring.tail(100)).toHaveLength(10);
    const big = new LogRing(1000);
    for (let i = 0; i < 500; i++) big.write(`${'x'.repeat(5000)}\n`);
    const tail = big.tail(500);
    expect(tail.reduce((n, l) => n + Buffer.byteLength(l), 0)).toBeLessThanOrEqual(MAX_LOG_TAIL_BYTES);
    expect(tail.length).toBeGreaterThan(10);
  });
});
