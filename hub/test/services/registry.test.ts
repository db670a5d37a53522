import type { DeviceMeta } from '@qianliyan/protocols';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/services/event-bus.ts';
import { createMetrics } from '../../src/services/metrics.ts';
import { Registry } from '../../src/services/registry.ts';
import { StateDb } from '../../src/stores/state-db.ts';

const meta = (ts: number, name = 'Camera'): DeviceMeta => ({
  seq: 1,
  epoch: 'e1',
  ts,
  kind: 'camera',
  name,
  position: { lat: 30, lon: 120 },
  capabilities: ['video'],
});

function setup(heartbeatTimeoutMs = 1000, alarmHoldMs = 60_000) {
  const db = new StateDb(':memory:');
  const metrics = createMetrics();
  const bus = new EventBus(metrics, pino({ level: 'silent' }));
  const registry = new Registry(db, bus, { heartbeatTimeoutMs, alarmHoldMs });
  const changes: string[] = [];
  bus.on('deviceChanged', 'test', ({ key }) => changes.push(key));
  bus.on('gatewayChanged', 'test', ({ id }) => changes.push(`gw:${id}`));
  return { db, registry, changes, bus, metrics };
}

describe('Registry', () => {
  it('turns a gateway and its devices offline on the last will, online on the next message', () => {
    const { registry } = setup();
    registry.applyState('v', 'gw', { seq: 1, epoch: 'e1', ts: Date.now(), online: true }, false);
    registry.applyMeta('v', 'gw', 'cam', meta(Date.now()), false);
    expect(registry.getDevice('gw.cam')?.status).toBe('online');
    registry.applyState('v', 'gw', { online: false }, false); // the broker's last will
    expect(registry.getGateway('gw')?.online).toBe(false);
    expect(registry.getDevice('gw.cam')?.status).toBe('offline');
    registry.touch('v', 'gw');
    expect(registry.getDevice('gw.cam')?.status).toBe('online');
  });

  it('turns a silent gateway offline after the heartbeat timeout', () => {
    const { registry } = setup(1000);
    const now = Date.now();
    registry.applyState('v', 'gw', { seq: 1, epoch: 'e1', ts: now, online: true }, false);
    registry.applyMeta('v', 'gw', 'cam', meta(now), false);
    registry.sweep(now + 500);
    expect(registry.getGateway('gw')?.online).toBe(true);
    registry.sweep(now + 1500);
    expect(registry.getGateway('gw')?.online).toBe(false);
    expect(registry.getDevice('gw.cam')?.status).toBe('offline');
  });

  it('treats a stale retained "online" as offline until the gateway speaks', () => {
    const { registry } = setup(1000);
    registry.applyState('v', 'gw', { seq: 9, epoch: 'e1', ts: Date.now() - 60_000, online: true }, true);
    expect(registry.getGateway('gw')?.online).toBe(false);
  });

  it('ignores an older retained descriptor but applies a live one', () => {
    const { registry, db } = setup();
    registry.applyMeta('v', 'gw', 'cam', meta(2000, 'New name'), false);
    registry.applyMeta('v', 'gw', 'cam', meta(1000, 'Old name'), true);
    expect(registry.getDevice('gw.cam')?.name).toBe('New name');
    registry.applyMeta('v', 'gw', 'cam', meta(500, 'Renamed after an outbox reset'), false);
    expect(registry.getDevice('gw.cam')?.name).toBe('Renamed after an outbox reset');
    expect(db.listDevices()[0]?.meta.name).toBe('Renamed after an outbox reset');
  });

  it('shows an alarm while fresh and clears it with a later normal event', () => {
    const { registry } = setup(60_000, 10_000);
    const now = Date.now();
    registry.applyState('v', 'gw', { seq: 1, epoch: 'e1', ts: now, online: true }, false);
    registry.applyMeta('v', 'gw', 'env', { ...meta(now), kind: 'sensor' }, false);
    registry.applyEvent('gw', 'env', {
      seq: 2,
      epoch: 'e1',
      ts: now,
      type: 'water_level.high',
      severity: 'alarm',
    });
    expect(registry.getDevice('gw.env')?.status).toBe('alarm');
    registry.sweep(now + 11_000);
    expect(registry.getDevice('gw.env')?.status).toBe('online'); // the hold expired
    registry.applyEvent('gw', 'env', {
      seq: 3,
      epoch: 'e1',
      ts: now + 12_000,
      type: 'water_level.high',
      severity: 'critical',
    });
    expect(registry.getDevice('gw.env')?.status).toBe('alarm');
    registry.applyEvent('gw', 'env', {
      seq: 4,
      epoch: 'e1',
      ts: now + 13_000,
      type: 'water_level.normal',
      severity: 'info',
    });
    expect(registry.getDevice('gw.env')?.status).toBe('online');
  });

  it('moves a drone with its telemetry and ignores samples older than the one shown', () => {
    const { registry } = setup();
    registry.applyState('v', 'gw', { seq: 1, epoch: 'e1', ts: Date.now(), online: true }, false);
    registry.applyMeta('v', 'gw', 'uav', { ...meta(Date.now()), kind: 'drone' }, false);
    registry.applyTelemetry('gw', 'uav', 2000, { lat: 30.01, lon: 120.01, heading: 45 });
    registry.applyTelemetry('gw', 'uav', 1000, { lat: 29, lon: 119 });
    const d = registry.getDevice('gw.uav');
    expect(d?.position).toEqual({ lat: 30.01, lon: 120.01 });
    expect(d?.heading).toBe(45);
    expect(d?.valuesTs).toBe(2000);
  });

  it('restores devices from the state DB on start, offline until heard from', () => {
    const { registry, db } = setup();
    registry.applyMeta('v', 'gw', 'cam', meta(1000), false);
    const again = new Registry(db, new EventBus(createMetrics(), pino({ level: 'silent' })), {
      heartbeatTimeoutMs: 1000,
      alarmHoldMs: 1000,
    });
    again.start();
    expect(again.getDevice('gw.cam')).toMatchObject({ name: 'Camera', status: 'offline' });
    again.stop();
  });

  it('passes a sensor descriptor\'s units through to its view (the dashboard labels "2.41 m")', () => {
    const { registry } = setup();
    registry.applyMeta(
      'v',
      'gw',
      'lvl',
      { ...meta(1000, 'Water level'), kind: 'sensor', units: { water_level: 'm', rainfall: 'mm' } },
      false,
    );
    expect(registry.getDevice('gw.lvl')?.units).toEqual({ water_level: 'm', rainfall: 'mm' });
    registry.applyMeta('v', 'gw', 'cam', meta(1000), false);
    expect(registry.getDevice('gw.cam')).not.toHaveProperty('units');
  });

  it('shows a device its gateway cannot reach as offline, with the reason, behind a live gateway', () => {
    const { registry } = setup();
    const now = Date.now();
    registry.applyState('v', 'gw', { seq: 1, epoch: 'e1', ts: now, online: true }, false);
    registry.applyMeta('v', 'gw', 'cam', meta(now), false);
    registry.applyAvailability(
      'gw',
      'cam',
      { seq: 2, epoch: 'e1', ts: now, online: false, reason: 'timeout' },
      false,
    );
    expect(registry.getDevice('gw.cam')).toMatchObject({
      status: 'offline',
      unreachable: { since: now, reason: 'timeout' },
    });
    expect(registry.getGateway('gw')?.online).toBe(true);
    // An older retained copy does not undo a newer live report.
    registry.applyAvailability('gw', 'cam', { seq: 1, epoch: 'e1', ts: now - 10, online: true }, true);
    expect(registry.getDevice('gw.cam')?.status).toBe('offline');
    registry.applyAvailability('gw', 'cam', { seq: 3, epoch: 'e1', ts: now + 1, online: true }, false);
    expect(registry.getDevice('gw.cam')?.status).toBe('online');
    expect(registry.getDevice('gw.cam')?.unreachable).toBeUndefined();
  });

  it('uses the heartbeat period a gateway announces: offline after three missed beats', () => {
    const { registry } = setup(60_000);
    const now = Date.now();
    registry.applyState('v', 'gw', { seq: 1, epoch: 'e1', ts: now, online: true, heartbeatMs: 2000 }, false);
    registry.sweep(now + 5000);
    expect(registry.getGateway('gw')?.online).toBe(true);
    registry.sweep(now + 6500);
    expect(registry.getGateway('gw')?.online).toBe(false);
  });

  it('stale after a heartbeat and a half of silence (its alarm within two periods); a late sweep judges nothing', () => {
    const { registry } = setup(60_000);
    const now = Date.now();
    registry.applyState('v', 'gw', { seq: 1, epoch: 'e1', ts: now, online: true, heartbeatMs: 2000 }, false);
    registry.touch('v', 'gw', now);
    registry.sweep(now + 2900);
    expect(registry.gatewayHealth('gw')).toMatchObject({ online: true, stale: false });
    // The hub itself was blocked: messages that came meanwhile are still unread, nothing is judged.
    registry.sweep(now + 3100, false);
    expect(registry.gatewayHealth('gw')?.stale).toBe(false);
    registry.sweep(now + 3100);
    expect(registry.gatewayHealth('gw')).toMatchObject({ online: true, stale: true });
    // Heard again: not stale, even from a late sweep.
    registry.touch('v', 'gw', now + 3200);
    expect(registry.gatewayHealth('gw')?.stale).toBe(false);
    registry.sweep(now + 6400, false);
    expect(registry.gatewayHealth('gw')).toMatchObject({ online: true, stale: false });
    registry.sweep(now + 9300);
    expect(registry.gatewayHealth('gw')).toMatchObject({ online: false, stale: false });
  });

  it('counts devices per gateway and forgets a deleted gateway with its devices', () => {
    const { registry, db } = setup();
    registry.applyMeta('v', 'gw', 'a', meta(1), false);
    registry.applyMeta('v', 'gw', 'b', meta(1), false);
    registry.applyMeta('w', 'gw2', 'c', meta(1), false);
    expect(registry.deviceCountOf('gw')).toBe(2);
    expect(registry.listDevicesOfSites(['w']).map((d) => d.key)).toEqual(['gw2.c']);
    expect(registry.removeGateway('gw').sort()).toEqual(['gw.a', 'gw.b']);
    expect(registry.deviceCountOf('gw')).toBe(0);
    expect(registry.listDevices().map((d) => d.key)).toEqual(['gw2.c']);
    expect(db.listDevices().map((d) => d.device)).toEqual(['c']);
  });

  it('keeps notifying the other listeners when one throws, and counts the failure', async () => {
    const { registry, bus, metrics } = setup();
    const seen: string[] = [];
    bus.on('deviceChanged', 'broken', () => {
      throw new Error('boom');
    });
    bus.on('deviceChanged', 'after', ({ key }) => seen.push(key));
    registry.applyMeta('v', 'gw', 'cam', meta(1), false);
    expect(seen).toEqual(['gw.cam']);
    const text = await metrics.registry.metrics();
    expect(text).toContain('qly_bus_listener_errors_total{event="deviceChanged",listener="broken"} 1');
  });
});
