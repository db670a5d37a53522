import { describe, expect, it } from 'vitest';
import { deviceKey, filters, laneOf, parseDeviceKey, parseTopic, topics } from '../src/index.ts';

describe('topic builders and parser', () => {
  it('round-trips every topic shape', () => {
    expect(parseTopic(topics.state('v1', 'gw-1'))).toEqual({ kind: 'state', site: 'v1', gateway: 'gw-1' });
    expect(parseTopic(topics.meta('v1', 'gw-1', 'cam_2'))).toEqual({
      kind: 'meta',
      site: 'v1',
      gateway: 'gw-1',
      device: 'cam_2',
    });
    expect(parseTopic(topics.telemetry('v1', 'gw-1', 'd'))).toEqual({
      kind: 'telemetry',
      site: 'v1',
      gateway: 'gw-1',
      device: 'd',
    });
    expect(parseTopic(topics.event('v1', 'gw-1', 'd'))).toEqual({
      kind: 'event',
      site: 'v1',
      gateway: 'gw-1',
      device: 'd',
    });
    expect(parseTopic(topics.cmd('v1', 'gw-1'))).toEqual({ kind: 'cmd', site: 'v1', gateway: 'gw-1' });
    expect(parseTopic(topics.cmdResult('v1', 'gw-1'))).toEqual({
      kind: 'cmdResult',
      site: 'v1',
      gateway: 'gw-1',
    });
    expect(parseTopic(topics.availability('v1', 'gw-1', 'd'))).toEqual({
      kind: 'availability',
      site: 'v1',
      gateway: 'gw-1',
      device: 'd',
    });
    expect(parseTopic(topics.recordings('v1', 'gw-1', 'cam'))).toEqual({
      kind: 'recordings',
      site: 'v1',
      gateway: 'gw-1',
      device: 'cam',
    });
    expect(parseTopic('qly/v1/v1/gw-1/dev/cam/recordings/x')).toBeNull();
    expect(topics.telemetry('v1', 'gw-1', 'd')).toBe('qly/v1/v1/gw-1/dev/d/telemetry');
    expect(topics.config('v1', 'gw-1')).toBe('qly/v1/v1/gw-1/config');
    expect(parseTopic(topics.config('v1', 'gw-1'))).toEqual({ kind: 'config', site: 'v1', gateway: 'gw-1' });
    expect(parseTopic(topics.configResult('v1', 'gw-1'))).toEqual({
      kind: 'configResult',
      site: 'v1',
      gateway: 'gw-1',
    });
    expect(parseTopic('qly/v1/v1/gw-1/config/x')).toBeNull();
  });

  it('puts telemetry in the bulk lane and everything else in the control lane', () => {
    expect(laneOf('telemetry')).toBe('bulk');
    for (const kind of [
      'state',
      'meta',
      'availability',
      'recordings',
      'event',
      'cmdResult',
      'configResult',
    ] as const)
      expect(laneOf(kind)).toBe('control');
  });

  it.each([
    'qly/v1/site/gw/state/extra',
    'qly/v1/site/gw/dev/d/telemetry/x',
    'qly/v1/site//state',
    'qly/v1/site/gw/dev/+/telemetry',
    'qly/v1/site/gw/dev/#',
    'qly/v2/site/gw/state',
    '/qly/v1/site/gw/state',
    'qly/v1/site/gw/dev/d/unknown',
    'qly/v1/site/gw/cmd/results',
    'qly/v1/-site/gw/state',
    `qly/v1/${'a'.repeat(65)}/gw/state`,
  ])('rejects %s', (topic) => {
    expect(parseTopic(topic)).toBeNull();
  });

  it('refuses to build a topic from an invalid id', () => {
    expect(() => topics.state('a/b', 'gw')).toThrow(TypeError);
    expect(() => topics.meta('s', 'gw', '#')).toThrow(TypeError);
    expect(() => topics.telemetry('s', '', 'd')).toThrow(TypeError);
  });

  it('builds MQTT 3.1.1 filters (no shared subscriptions)', () => {
    expect(filters.all).toBe('qly/v1/#');
    expect(filters.gatewayCommands('s', 'g')).toBe('qly/v1/s/g/cmd');
    expect(filters.gatewayPublish('s', 'g')).toBe('qly/v1/s/g/#');
  });

  it('names devices across the hub as gateway.device', () => {
    expect(deviceKey('gw-1', 'cam-01')).toBe('gw-1.cam-01');
    expect(parseDeviceKey('gw-1.cam-01')).toEqual({ gateway: 'gw-1', device: 'cam-01' });
    expect(parseDeviceKey('gw-1.cam.01')).toBeNull();
  });
});
