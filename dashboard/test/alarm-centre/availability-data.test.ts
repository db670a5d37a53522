/** The availability report's summary, chart and CSV (pure helpers). */
import type { AvailabilityRow } from '@qianliyan/protocols';
import { describe, expect, it } from 'vitest';
import {
  availabilityCsv,
  chartSvg,
  percent,
  reportDays,
  summarize,
} from '../../src/alarm-centre/availability-data.ts';

const rows: AvailabilityRow[] = [
  {
    day: '2026-12-01',
    site: 'dongshan',
    kind: 'camera',
    devices: 2,
    onlineRate: 0.75,
    offlineMs: 6 * 3_600_000,
  },
  { day: '2026-12-02', site: 'dongshan', kind: 'camera', devices: 3, onlineRate: 1, offlineMs: 0 },
  { day: '2026-12-01', site: 'dongshan', kind: 'gateway', devices: 1, onlineRate: 1, offlineMs: 0 },
  { day: '2026-12-03', site: 'xihe', kind: 'sensor', devices: 1, onlineRate: 0.5, offlineMs: 12 * 3_600_000 },
];

describe('availability report helpers', () => {
  it('summarizes per village and kind, worst first', () => {
    expect(summarize(rows)).toEqual([
      {
        site: 'xihe',
        kind: 'sensor',
        devices: 1,
        mean: 0.5,
        worstDay: '2026-12-03',
        worstRate: 0.5,
        offlineMs: 12 * 3_600_000,
      },
      {
        site: 'dongshan',
        kind: 'camera',
        devices: 3,
        mean: 0.875,
        worstDay: '2026-12-01',
        worstRate: 0.75,
        offlineMs: 6 * 3_600_000,
      },
      {
        site: 'dongshan',
        kind: 'gateway',
        devices: 1,
        mean: 1,
        worstDay: '2026-12-01',
        worstRate: 1,
        offlineMs: 0,
      },
    ]);
    expect(percent(0.7499)).toBe('75.0%');
    expect(percent(1)).toBe('100.0%');
  });

  it('lists every day of the window in the report’s time zone', () => {
    const from = Date.UTC(2026, 10, 30, 16); // 2026-12-01 00:00 in China
    expect(reportDays(from, from + 2 * 86_400_000 + 5000, 480)).toEqual([
      '2026-12-01',
      '2026-12-02',
      '2026-12-03',
    ]);
  });

  it('draws a line per village and kind, a gap where a day has no record, no inline style', () => {
    const svg = chartSvg(rows, ['2026-12-01', '2026-12-02', '2026-12-03'], {
      width: 300,
      height: 100,
      label: (k) => `L:${k}`,
      title: '图',
    });
    expect(svg.match(/<g class="series/g)).toHaveLength(3);
    expect(svg).toContain('<title>L:dongshan|camera</title>');
    expect(svg).not.toContain('style=');
    // The camera line has two points joined; the sensor's lone day starts its own segment.
    const camera = /data-series="dongshan\|camera"><title>[^<]*<\/title><path d="([^"]*)"/.exec(svg)?.[1];
    expect(camera).toMatch(/^M[\d.]+ [\d.]+ L[\d.]+ [\d.]+$/);
    expect(svg).toContain('aria-label="图"');
  });

  it('writes CSV with headers and names in words, rates in percent', () => {
    const csv = availabilityCsv(
      rows.slice(0, 1),
      ['日期', '村', '设备类型', '设备数', '在线率 (%)', '离线（分钟）'],
      (id) => (id === 'dongshan' ? '东山村, 北' : id),
      (k) => (k === 'camera' ? '摄像头' : k),
    );
    expect(csv).toBe(
      '\ufeff日期,村,设备类型,设备数,在线率 (%),离线（分钟）\r\n2026-12-01,"东山村, 北",摄像头,2,75.00,360\r\n',
    );
  });
});
