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
import { onLangChange, t } from '../i18n.ts';

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
  private seq = 0;
  readonly stats: HistoryStats = { points: 0, series: 0, bucketMs: 0, drawMs: 0, loading: false };

  constructor(
    private readonly root: HTMLElement,
    private readonly devices: () => Map<string, DeviceView>,
  ) {
    root.classList.add('history');
    this.render();
    onLangChange(() => this.render());
    new ResizeObserver(() => this.resize()).observe(root);
  }

  /** Refreshes the device and metric choices (devices come and go while the view is hidden). */
  refresh(): void {
    this.fillDevices();
    this.fillFields();
  }

  /** Opens a device's metric (from the device panel or a test). */
  open(key: string, field?: string): void {
    this.fillDevices();
    this.select('device', key);
    this.fillFields();
    if (field) this.select('field', field);
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
        <span class="range" data-role="ranges">
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
        <span class="history-status" data-role="status"></span>
      </form>
      <div class="history-chart" data-role="chart"></div>`;
    this.fillDevices();
    this.fillFields();
    this.setRange('d1');
    if (keep) {
      this.select('device', keep.device);
      this.fillFields();
      this.select('field', keep.field);
      this.select('compare', keep.compare);
      this.select('points', keep.points);
    }
    const form = this.el<HTMLFormElement>('controls');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.load();
    });
    this.el('device').addEventListener('change', () => this.fillFields());
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
        for (const b of this.root.querySelectorAll<HTMLElement>('[data-range]')) b.classList.remove('active');
      });
    if (this.answers.length) this.draw();
  }

  private values() {
    return {
      device: this.el<HTMLSelectElement>('device').value,
      field: this.el<HTMLSelectElement>('field').value,
      compare: this.el<HTMLSelectElement>('compare').value,
      points: this.el<HTMLSelectElement>('points').value,
    };
  }

  /** Devices that have numeric values, by name with their village and key to tell them apart. */
  private fillDevices(): void {
    const devices = [...this.devices().values()]
      .filter((d) => Object.values(d.values).some((v) => typeof v === 'number'))
      .sort((a, b) => a.name.localeCompare(b.name, 'zh-CN', { numeric: true }));
    const options = devices
      .map(
        (d) => `<option value="${escapeHtml(d.key)}">${escapeHtml(d.name)} · ${escapeHtml(d.key)}</option>`,
      )
      .join('');
    for (const role of ['device', 'compare']) {
      const sel = this.el<HTMLSelectElement>(role);
      const value = sel.value;
      sel.innerHTML = (role === 'compare' ? `<option value="">—</option>` : '') + options;
      if (value) sel.value = value;
    }
  }

  private fillFields(): void {
    const d = this.devices().get(this.el<HTMLSelectElement>('device').value);
    const sel = this.el<HTMLSelectElement>('field');
    const value = sel.value;
    const fields = Object.entries(d?.values ?? {})
      .filter(([, v]) => typeof v === 'number')
      .map(([k]) => k)
      .sort();
    sel.innerHTML = fields.map((f) => `<option>${escapeHtml(f)}</option>`).join('');
    if (fields.includes(value)) sel.value = value;
  }

  private setRange(range: string): void {
    const to = Date.now();
    const from = to - (RANGES[range] ?? 86_400_000);
    this.el<HTMLInputElement>('from').value = localInput(from);
    this.el<HTMLInputElement>('to').value = localInput(to);
    for (const b of this.root.querySelectorAll<HTMLElement>('[data-range]'))
      b.classList.toggle('active', b.dataset.range === range);
  }

  async load(): Promise<void> {
    const { device, field, compare, points } = this.values();
    if (!device || !field) return;
    // datetime-local is local time; Date parses it as such and gives UTC milliseconds.
    const from = new Date(this.el<HTMLInputElement>('from').value).getTime();
    const to = new Date(this.el<HTMLInputElement>('to').value).getTime();
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
      this.draw();
      status.textContent = t('historyPoints', {
        n: answers.reduce((n, a) => n + a.points.length, 0).toLocaleString(),
        bucket: bucketLabel(answers[0]?.bucketMs ?? 0),
      });
      delete this.stats.error;
    } catch (err) {
      this.stats.error = (err as Error).message;
      status.textContent = (err as Error).message;
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
    const name = (key: string) => this.devices().get(key)?.name ?? key;
    const series: uPlot.Series[] = [
      {},
      ...this.answers.flatMap((a, i) => {
        const color = COLORS[i % COLORS.length] as string;
        return [
          { label: `${name(a.key)} · ${a.field}`, stroke: color, width: 1.5, spanGaps: false },
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
        scales: { x: { time: true } },
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

  /** CSV of what is shown: local time and UTC, then avg/min/max/count per device. */
  private exportCsv(): void {
    if (!this.answers.length) return;
    const header = [
      'local_time',
      'utc',
      ...this.answers.flatMap((a) => ['avg', 'min', 'max', 'count'].map((c) => `${a.key}.${a.field}.${c}`)),
    ];
    const times = [...new Set(this.answers.flatMap((a) => a.points.map((p) => p.ts)))].sort((a, b) => a - b);
    const byKey = this.answers.map((a) => new Map(a.points.map((p) => [p.ts, p])));
    const lines = [header.join(',')];
    for (const ts of times) {
      const cells = [localStamp(ts), new Date(ts).toISOString()];
      for (const m of byKey) {
        const p = m.get(ts);
        cells.push(...(p ? [p.avg, p.min, p.max, p.count].map(String) : ['', '', '', '']));
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
