/**
 * The availability report (在线率) as the dashboard shows it, as pure functions (unit-tested): a
 * summary per village and device kind, the daily series for the chart, the chart itself (SVG
 * markup: no library, no inline style — the page's CSP forbids it; colours come from classes), and
 * the CSV with headers and names in the officer's language.
 */
import type { AvailabilityRow } from '@qianliyan/protocols';
import { escapeHtml } from '../html.ts';

export interface AvailabilitySummary {
  site: string;
  kind: string;
  devices: number;
  /** Mean of the daily rates, 0…1. */
  mean: number;
  worstDay: string;
  worstRate: number;
  offlineMs: number;
}

/** The series key of a row. */
export const seriesKey = (r: { site: string; kind: string }) => `${r.site}|${r.kind}`;

/** "75.0%" (a rate 0…1, one decimal: 0.1 % of a day is under a minute and a half). */
export function percent(rate: number): string {
  return `${(Math.round(rate * 1000) / 10).toFixed(1)}%`;
}

/** One line per village and kind, worst mean first (what needs attention on top). */
export function summarize(rows: readonly AvailabilityRow[]): AvailabilitySummary[] {
  const by = new Map<string, AvailabilitySummary & { n: number; sum: number }>();
  for (const r of rows) {
    const key = seriesKey(r);
    let s = by.get(key);
    if (!s) {
      s = {
        site: r.site,
        kind: r.kind,
        devices: 0,
        mean: 0,
        worstDay: r.day,
        worstRate: 2,
        offlineMs: 0,
        n: 0,
        sum: 0,
      };
      by.set(key, s);
    }
    s.devices = Math.max(s.devices, r.devices);
    s.n += 1;
    s.sum += r.onlineRate;
    s.offlineMs += r.offlineMs;
    if (r.onlineRate < s.worstRate) {
      s.worstRate = r.onlineRate;
      s.worstDay = r.day;
    }
  }
  return [...by.values()]
    .map(({ n, sum, ...s }) => ({ ...s, mean: Math.round((sum / n) * 10_000) / 10_000 }))
    .sort((a, b) => a.mean - b.mean || a.site.localeCompare(b.site) || a.kind.localeCompare(b.kind));
}

/** Every day of the report's window, oldest first (`YYYY-MM-DD` in the report's time zone). */
export function reportDays(from: number, to: number, timeZoneOffsetMinutes: number): string[] {
  const offset = timeZoneOffsetMinutes * 60_000;
  const days: string[] = [];
  for (let ts = from; ts <= to; ts += 86_400_000) days.push(new Date(ts + offset).toISOString().slice(0, 10));
  return days;
}

export interface ChartOptions {
  width: number;
  height: number;
  /** The label of each series (village and kind). */
  label(key: string): string;
  /** The chart's accessible name. */
  title: string;
  /** The tick labels' size in px (drawn 1:1: the chart is made at its displayed width). */
  fontPx?: number;
}

/**
 * A line per village and kind over the days (a day without a record is a gap), the y axis from the
 * lowest rate seen (rounded down to 10 %) to 100 %.
 */
export function chartSvg(rows: readonly AvailabilityRow[], days: readonly string[], o: ChartOptions): string {
  const font = o.fontPx ?? 12;
  const pad = { left: Math.round(font * 4.6), right: 12, top: 12, bottom: Math.round(font * 2.3) };
  const w = o.width - pad.left - pad.right;
  const h = o.height - pad.top - pad.bottom;
  const low = Math.min(0.9, Math.floor(Math.min(1, ...rows.map((r) => r.onlineRate)) * 10) / 10);
  const x = (i: number) => pad.left + (days.length > 1 ? (i / (days.length - 1)) * w : w / 2);
  const y = (rate: number) => pad.top + (1 - (rate - low) / (1 - low)) * h;
  const index = new Map(days.map((d, i) => [d, i]));
  const series = new Map<string, Array<[number, number]>>();
  for (const r of rows) {
    const i = index.get(r.day);
    if (i === undefined) continue;
    const list = series.get(seriesKey(r)) ?? [];
    list.push([i, r.onlineRate]);
    series.set(seriesKey(r), list);
  }
  const ticks = [low, (low + 1) / 2, 1];
  const axis = ticks
    .map(
      (v) =>
        `<line class="grid" x1="${pad.left}" x2="${pad.left + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="tick" x="${pad.left - 6}" y="${(y(v) + font / 3).toFixed(1)}" text-anchor="end">${percent(v)}</text>`,
    )
    .join('');
  const dayTicks = days.length
    ? [0, Math.floor((days.length - 1) / 2), days.length - 1]
        .filter((v, i, all) => all.indexOf(v) === i)
        .map(
          (i) =>
            `<text class="tick" x="${x(i).toFixed(1)}" y="${(o.height - font * 0.6).toFixed(1)}" text-anchor="middle">${escapeHtml((days[i] as string).slice(5))}</text>`,
        )
        .join('')
    : '';
  const lines = [...series.entries()]
    .map(([key, points], n) => {
      points.sort((a, b) => a[0] - b[0]);
      // A gap between days without records starts a new segment.
      let d = '';
      let last = -2;
      for (const [i, rate] of points) {
        d += `${i === last + 1 ? 'L' : 'M'}${x(i).toFixed(1)} ${y(rate).toFixed(1)} `;
        last = i;
      }
      const dots = points
        .map(
          ([i, rate]) => `<circle class="dot" cx="${x(i).toFixed(1)}" cy="${y(rate).toFixed(1)}" r="2.5"/>`,
        )
        .join('');
      return `<g class="series s${n % 8}" data-series="${escapeHtml(key)}"><title>${escapeHtml(o.label(key))}</title><path d="${d.trim()}"/>${dots}</g>`;
    })
    .join('');
  return `<svg class="av-svg" viewBox="0 0 ${o.width} ${o.height}" role="img" aria-label="${escapeHtml(o.title)}">${axis}${dayTicks}${lines}</svg>`;
}

/** The report as CSV (UTF-8 with a byte-order mark for spreadsheet programs), headers in words. */
export function availabilityCsv(
  rows: readonly AvailabilityRow[],
  headers: readonly string[],
  siteName: (id: string) => string,
  kindName: (kind: string) => string,
): string {
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [headers.map(quote).join(',')];
  for (const r of rows)
    lines.push(
      [
        r.day,
        quote(siteName(r.site)),
        quote(kindName(r.kind)),
        String(r.devices),
        (r.onlineRate * 100).toFixed(2),
        String(Math.round(r.offlineMs / 60_000)),
      ].join(','),
    );
  return `\ufeff${lines.join('\r\n')}\r\n`;
}
