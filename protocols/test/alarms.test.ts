import { describe, expect, it } from 'vitest';
import type { AlarmView } from '../src/index.ts';
import { healthTypeOfReason, LIVE_TOPICS, liveVisibleTo, severityRank } from '../src/index.ts';

describe('alarm contract', () => {
  it('names the health alarm from the gateway’s reason code and the device kind', () => {
    expect(healthTypeOfReason('camera', 'ONVIF_UNAUTHORIZED: the camera refused the credentials')).toBe(
      'health.credentials_refused',
    );
    expect(healthTypeOfReason('camera', 'ONVIF_TIMEOUT: no answer within 5 s')).toBe('health.device_offline');
    expect(healthTypeOfReason('camera', 'VIDEO_LOST: no frames for 10 s while ONVIF answers')).toBe(
      'health.video_lost',
    );
    expect(healthTypeOfReason('sensor', 'MODBUS_TIMEOUT: no answer within 1000 ms (input 0…1)')).toBe(
      'health.comm_lost',
    );
    expect(healthTypeOfReason('drone', 'no heartbeat from the vehicle yet')).toBe('health.link_lost');
    expect(healthTypeOfReason('speaker', 'SPEAKER_SILENT: heartbeat silent for 30 s')).toBe(
      'health.comm_lost',
    );
  });

  it('orders severities and sends an escalated alarm to the level that owns it', () => {
    expect(severityRank('warning')).toBeLessThan(severityRank('alarm'));
    expect(severityRank('alarm')).toBeLessThan(severityRank('critical'));
    const alarm = { id: 1, site: 'v1', owner: 'town' } as AlarmView;
    const town = { username: 't', role: 'duty_officer' as const, sites: ['town'] };
    const other = { username: 'o', role: 'village_operator' as const, sites: ['v2'] };
    expect(liveVisibleTo(LIVE_TOPICS.alarm, alarm, town)).toBe(true);
    expect(liveVisibleTo(LIVE_TOPICS.alarm, alarm, other)).toBe(false);
  });
});
