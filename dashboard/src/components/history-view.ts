/**
 * History charts: a device and a metric (and optionally a second device to compare), a range (last
 * hour / day / week / 30 days / custom), a resolution (1,000 / 10,000 / 100,000 buckets), drawn with
 * uPlot (canvas; smooth at 100k points: drag to zoom, double click to reset), exported as CSV.
 * Times are stored and fetched in UTC; the axis and the CSV show the browser's local time.
 */
import type { DeviceHistory, DeviceView } from '@qianliyan/protocols';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { get } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, fieldLabel, t } from '../i18n.ts';

/** One series as the hub answers it (`GET /api/devices/:key/history`). */
type HistoryAnswer = DeviceHistory;

const RANGES: Record<string, number> = {
  h1: 3_600_000,
  d1: 86_400_000,
  d7: 7 * 86_400_000,
  d30: 30 * 86_400_000,
};
const COLORS = ['#38bdf8', '#f59e0b'];

export interface HistoryStats {
  points: number;
  series: number;
  bucketMs: number;
  /** Time from the answers' arrival to the chart drawn. */
  drawMs: number;
  loading: boolean;
  error?: string;
}

export class HistoryView {
  private chart: uPlot | undefined;
  private answers: HistoryAnswer[] = [];
  /** The period the answers cover (ms): the x axis is exactly this, however few points fell in it. */
  private period = { from: 0, to: 0 };
  /** The preset range chosen (`d1`…), or undefined for dates typed by hand. */
  private preset: string | undefined = 'd1';
  private seq = 0;
  readonly stats: HistoryStats = { points: 0, series: 0, bucketMs: 0, drawMs: 0, loading: false };

  constructor(
    private readonly root: HTMLElement,
    private readonly devices: () => Map<string, DeviceView>,
    private readonly siteName: (id: string) => string,
  ) {
    root.classList.add('history');
    this.render();
    new ResizeObserver(() => this.resize()).observe(root);
  }

  /** The language changed: every word again, the choices and the chart kept. */
  relabel(): void {
    this.render();
  }

  /**
   * The view came on screen: the device and metric choices again (devices come and go while it is
   * hidden), and a preset range ("last day") moved to end now — not when the page was opened.
   */
  refresh(): void {
    this.fillDevices();
    this.fillFields();
    if (this.preset) {
      this.setRange(this.preset);
      if (this.answers.length) void this.load();
    }
  }

  /** Opens a device's metric (from the device panel or a test). */
  open(key: string, field?: string): void {
    this.fillDevices();
    this.select('device', key);
    this.fillFields();
    if (field) this.select('field', field);
    this.fillCompare();
    void this.load();
  }

  private el<T extends HTMLElement>(role: string): T {
    return this.root.querySelector(`[data-role=${role}]`) as T;
  }

  private select(role: string, value: string): void {
    this.el<HTMLSelectElement>(role).value = value;
  }

  private render(): void {
    const keep = this.root.querySelector('form') ? this.values() : undefined;
    this.root.innerHTML = `
      <form class="history-controls" data-role="controls">
        <label>${t('historyDevice')} <select data-role="device"></select></label>
        <label>${t('historyMetric')} <select data-role="field"></select></label>
        <label>${t('historyCompare')} <select data-role="compare"></select></label>
        <span class="range" data-role="ranges" role="group" aria-label="${t('historyRange')}">
          ${Object.keys(RANGES)
            .map((r) => `<button type="button" data-range="${r}">${t(`range_${r}` as 'range_h1')}</button>`)
            .join('')}
        </span>
        <label>${t('historyFrom')} <input type="datetime-local" data-role="from"></label>
        <label>${t('historyTo')} <input type="datetime-local" data-role="to"></label>
        <label>${t('historyResolution')} <select data-role="points">
          <option value="1000">1,000</option><option value="10000">10,000</option><option value="100000">100,000</option>
        </select></label>
        <button type="submit" data-role="load">${t('historyShow')}</button>
        <button type="button" data-role="csv">${t('historyCsv')}</button>
        <span class="history-status" data-role="status" role="status"></span>
      </form>
      <div class="history-chart" data-role="chart"></div>`;
    this.fillDevices();
    this.fillFields();
    if (keep) {
      this.el<HTMLInputElement>('from').value = keep.from;
      this.el<HTMLInputElement>('to').value = keep.to;
      this.markPreset();
    } else this.setRange(this.preset ?? 'd1');
    if (keep) {
      this.select('device', keep.device);
      this.fillFields();
      this.select('field', keep.field);
      this.fillCompare();
      this.select('compare', keep.compare);
      this.select('points', keep.points);
    }
    const form = this.el<HTMLFormElement>('controls');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.load();
    });
    this.el('device').addEventListener('change', () => {
      this.fillFields();
      this.fillCompare();
    });
    this.el('field').addEventListener('change', () => this.fillCompare());
    for (const role of ['device', 'compare'])
      this.el(role).addEventListener('focus', () => this.fillDevices());
    this.el('ranges').addEventListener('click', (ev) => {
      const range = (ev.target as HTMLElement).closest<HTMLElement>('[data-range]')?.dataset.range;
      if (!range) return;
      this.setRange(range);
      void this.load();
    });
    this.el('csv').addEventListener('click', () => this.exportCsv());
    // A date typed by hand is a custom range: no preset is active any more.
    for (const role of ['from', 'to'])
      this.el(role).addEventListener('input', () => {
        this.preset = undefined;
        this.markPreset();
      });
    if (this.answers.length) this.draw();
  }

  private values() {
    return {
      device: this.el<HTMLSelectElement>('device').value,
      field: this.el<HTMLSelectElement>('field').value,
      compare: this.el<HTMLSelectElement>('compare').value,
      points: this.el<HTMLSelectElement>('points').value,
      from: this.el<HTMLInputElement>('from').value,
      to: this.el<HTMLInputElement>('to').value,
    };
  }

  /** A device's name with its village, for choices that mix villages. */
  private label(d: DeviceView): string {
    return `${d.name} · ${this.siteName(d.site)}`;
  }

  /** Devices that have numeric values, by name with their village. */
  private fillDevices(): void {
    const devices = [...this.devices().values()]
      .filter((d) => Object.values(d.values).some((v) => typeof v === 'number'))
      .sort((a, b) => a.name.localeCompare(b.name, 'zh-CN', { numeric: true }));
    const sel = this.el<HTMLSelectElement>('device');
    const value = sel.value;
    sel.innerHTML = devices
      .map((d) => `<option value="${escapeHtml(d.key)}">${escapeHtml(this.label(d))}</option>`)
      .join('');
    if (value) sel.value = value;
    this.fillCompare();
  }

  /** What a series can be compared with: other devices that measure the same metric. */
  private fillCompare(): void {
    const { device, field } = { device: this.values().device, field: this.values().field };
    const sel = this.el<HTMLSelectElement>('compare');
    const value = sel.value;
    const peers = [...this.devices().values()]
      .filter((d) => d.key !== device && field && typeof d.values[field] === 'number')
      .sort((a, b) => a.name.localeCompare(b.name, 'zh-CN', { numeric: true }));
    sel.innerHTML = `<option value="">${t('historyNoCompare')}</option>${peers
      .map((d) => `<option value="${escapeHtml(d.key)}">${escapeHtml(this.label(d))}</option>`)
      .join('')}`;
    if (value && peers.some((d) => d.key === value)) sel.value = value;
  }

  private fillFields(): void {
    const d = this.devices().get(this.el<HTMLSelectElement>('device').value);
    const sel = this.el<HTMLSelectElement>('field');
    const value = sel.value;
    const fields = Object.entries(d?.values ?? {})
      .filter(([, v]) => typeof v === 'number')
      .map(([k]) => k)
      .sort();
    sel.innerHTML = fields
      .map((f) => `<option value="${escapeHtml(f)}">${escapeHtml(fieldLabel(f, d?.units))}</option>`)
      .join('');
    if (fields.includes(value)) sel.value = value;
  }

  private setRange(range: string): void {
    this.preset = range;
    const to = Date.now();
    const from = to - (RANGES[range] ?? 86_400_000);
    this.el<HTMLInputElement>('from').value = localInput(from);
    this.el<HTMLInputElement>('to').value = localInput(to);
    this.markPreset();
  }

  private markPreset(): void {
    for (const b of this.root.querySelectorAll<HTMLElement>('[data-range]')) {
      b.classList.toggle('active', b.dataset.range === this.preset);
      b.setAttribute('aria-pressed', String(b.dataset.range === this.preset));
    }
  }

  async load(): Promise<void> {
    const { device, field, compare, points } = this.values();
    if (!device || !field) return;
    // A preset ends now (to the millisecond), not at the minute the inputs can show.
    const presetMs = this.preset ? RANGES[this.preset] : undefined;
    if (presetMs) this.setRange(this.preset as string);
    // datetime-local is local time; Date parses it as such and gives UTC milliseconds.
    const to = presetMs ? Date.now() : new Date(this.el<HTMLInputElement>('to').value).getTime();
    const from = presetMs ? to - presetMs : new Date(this.el<HTMLInputElement>('from').value).getTime();
    const status = this.el('status');
    if (!(from < to)) {
      status.textContent = t('historyBadRange');
      return;
    }
    const seq = ++this.seq;
    this.stats.loading = true;
    status.textContent = t('historyLoading');
    const keys = [device, ...(compare && compare !== device ? [compare] : [])];
    try {
      const answers = await Promise.all(
        keys.map((key) =>
          get('/api/devices/:key/history', {
            params: { key },
            query: { field, from, to, maxPoints: points },
          }),
        ),
      );
      if (seq !== this.seq) return; // a newer request replaced this one
      this.answers = answers;
      this.period = { from, to };
      this.root.dataset.from = String(from);
      this.root.dataset.to = String(to);
      this.draw();
      status.textContent = t('historyPoints', {
        n: answers.reduce((n, a) => n + a.points.length, 0).toLocaleString(),
        bucket: bucketLabel(answers[0]?.bucketMs ?? 0),
      });
      delete this.stats.error;
    } catch (err) {
      this.stats.error = (err as Error).message;
      status.textContent = errorMessage(err);
    } finally {
      if (seq === this.seq) this.stats.loading = false;
    }
  }

  private draw(): void {
    const started = performance.now();
    const host = this.el('chart');
    this.chart?.destroy();
    this.chart = undefined;
    if (!this.answers.length) return;
    // One x axis for all series: the union of bucket times (seconds, as uPlot wants), gaps as null.
    const times = [...new Set(this.answers.flatMap((a) => a.points.map((p) => p.ts)))].sort((a, b) => a - b);
    const index = new Map(times.map((ts, i) => [ts, i]));
    const data: uPlot.AlignedData = [
      Float64Array.from(times, (ts) => ts / 1000),
      ...this.answers.flatMap((a) => {
        const avg: Array<number | null> = new Array(times.length).fill(null);
        const min: Array<number | null> = new Array(times.length).fill(null);
        const max: Array<number | null> = new Array(times.length).fill(null);
        for (const p of a.points) {
          const i = index.get(p.ts) as number;
          avg[i] = p.avg;
          min[i] = p.min;
          max[i] = p.max;
        }
        return [avg, min, max];
      }),
    ];
    const series: uPlot.Series[] = [
      {},
      ...this.answers.flatMap((a, i) => {
        const color = COLORS[i % COLORS.length] as string;
        return [
          { label: this.seriesName(a), stroke: color, width: 1.5, spanGaps: false },
          { label: `${t('historyMin')}`, stroke: `${color}55`, width: 1, show: this.answers.length === 1 },
          { label: `${t('historyMax')}`, stroke: `${color}55`, width: 1, show: this.answers.length === 1 },
        ];
      }),
    ];
    const { width, height } = this.size();
    this.chart = new uPlot(
      {
        width,
        height,
        series,
        // The x axis is the period asked for (a single point no longer spans years); a drag zooms
        // within it and a double click returns to it.
        scales: {
          x: { time: true, range: () => [this.period.from / 1000, this.period.to / 1000] },
        },
        axes: [
          { stroke: '#94a3b8', grid: { stroke: '#1e293b' }, ticks: { stroke: '#334155' } },
          { stroke: '#94a3b8', grid: { stroke: '#1e293b' }, ticks: { stroke: '#334155' } },
        ],
        cursor: { drag: { x: true, y: false } },
      },
      data,
      host,
    );
    this.stats.points = this.answers.reduce((n, a) => n + a.points.length, 0);
    this.stats.series = this.answers.length;
    this.stats.bucketMs = this.answers[0]?.bucketMs ?? 0;
    this.stats.drawMs = Math.round(performance.now() - started);
  }

  /** Zooms the x axis to [from, to] (ms), as a drag would; returns how long the redraw took. */
  zoom(from: number, to: number): number {
    const started = performance.now();
    this.chart?.setScale('x', { min: from / 1000, max: to / 1000 });
    return performance.now() - started;
  }

  private size(): { width: number; height: number } {
    const host = this.el('chart');
    return { width: Math.max(320, host.clientWidth - 8), height: Math.max(240, host.clientHeight - 60) };
  }

  private resize(): void {
    if (this.chart) this.chart.setSize(this.size());
  }

  /** "水位 (m) · 水位站 01 · 千里村" */
  private seriesName(a: HistoryAnswer): string {
    const d = this.devices().get(a.key);
    return `${d ? this.label(d) : a.key} · ${fieldLabel(a.field, d?.units)}`;
  }

  /** CSV of what is shown: local time and UTC, then avg/min/max/count per device, named in words. */
  exportCsv(): void {
    if (!this.answers.length) return;
    const cell = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
    const header = [
      t('csvLocalTime'),
      t('csvUtc'),
      ...this.answers.flatMap((a) =>
        (['historyAvg', 'historyMin', 'historyMax', 'historyCount'] as const).map(
          (c) => `${this.seriesName(a)} · ${t(c)}`,
        ),
      ),
    ].map(cell);
    const times = [...new Set(this.answers.flatMap((a) => a.points.map((p) => p.ts)))].sort((a, b) => a - b);
    const byKey = this.answers.map((a) => new Map(a.points.map((p) => [p.ts, p])));
    const lines = [header.join(',')];
    for (const ts of times) {
      const cells = [localStamp(ts), new Date(ts).toISOString()];
      for (const m of byKey) {
        const p = m.get(ts);
        cells.push(...(p ? [...[p.avg, p.min, p.max].map(roundValue), String(p.count)] : ['', '', '', '']));
      }
      lines.push(cells.join(','));
    }
    const blob = new Blob([`\ufeff${lines.join('\r\n')}\r\n`], { type: 'text/csv;charset=utf-8' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    const first = this.answers[0] as HistoryAnswer;
    a.download = `${first.key}-${first.field}-${localStamp(times[0] ?? Date.now()).replace(/[: ]/g, '')}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
}

/**
 * A measured value as a person reads it: floating-point noise gone (2.4800000000000004 → 2.48),
 * at most three decimals, trailing zeros dropped.
 */
export function roundValue(v: number): string {
  if (!Number.isFinite(v)) return '';
  const digits = Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 10 ? 2 : 3;
  return String(Number(v.toFixed(digits)));
}

const pad = (n: number) => String(n).padStart(2, '0');
/** `YYYY-MM-DDTHH:mm` in local time, for datetime-local inputs. */
function localInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function localStamp(ms: number): string {
  const d = new Date(ms);
  return `${localInput(ms).replace('T', ' ')}:${pad(d.getSeconds())}`;
}
function bucketLabel(ms: number): string {
  if (ms >= 86_400_000) return `${ms / 86_400_000} d`;
  if (ms >= 3_600_000) return `${ms / 3_600_000} h`;
  if (ms >= 60_000) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}
