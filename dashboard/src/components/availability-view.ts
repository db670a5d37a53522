/**
 * The availability report (在线率): per village and device kind, the daily share of device-time
 * online over the last 30 (or 7, 90) days, from the hub's health record — a summary table (worst
 * first), a chart, the day-by-day table and a CSV download, in the officer's language.
 */
import type { AvailabilityReport } from '@qianliyan/protocols';
import {
  availabilityCsv,
  chartSvg,
  percent,
  reportDays,
  seriesKey,
  summarize,
} from '../alarm-centre/availability-data.ts';
import { get } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, t } from '../i18n.ts';

export interface AvailabilityHost {
  siteName(id: string): string;
  sites(): Array<{ id: string; name: string; level: string }>;
}

export class AvailabilityView {
  private report: AvailabilityReport | null = null;
  private loading = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: AvailabilityHost,
  ) {
    root.classList.add('availability');
    root.innerHTML = `
      <form class="av-controls" data-role="controls">
        <h2 data-i18n="avTitle"></h2>
        <label><span data-i18n="avDays"></span><select name="days"></select></label>
        <label><span data-i18n="acSite"></span><select name="site"></select></label>
        <button type="submit" data-i18n="acApply"></button>
        <button type="button" data-role="csv" data-i18n="avCsv"></button>
        <span class="av-status" data-role="status" role="status"></span>
      </form>
      <div class="av-body">
        <figure class="av-chart" data-role="chart"></figure>
        <ul class="av-legend" data-role="legend"></ul>
        <h3 data-i18n="avSummary"></h3>
        <table class="av-table" data-role="summary"></table>
        <details class="av-daily" open>
          <summary data-i18n="avDaily"></summary>
          <table class="av-table" data-role="daily"></table>
        </details>
      </div>`;
    const form = root.querySelector('[data-role=controls]') as HTMLFormElement;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.load();
    });
    root.querySelector('[data-role=csv]')?.addEventListener('click', () => this.download());
    this.relabel();
  }

  activate(): void {
    if (!this.report && !this.loading) void this.load();
    // (Shown again, possibly at another size: drawn for the width it has now.)
    else requestAnimationFrame(() => this.render());
  }

  relabel(): void {
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-i18n]'))
      el.textContent = t(el.dataset.i18n as Parameters<typeof t>[0]);
    const form = this.root.querySelector('[data-role=controls]') as HTMLFormElement;
    const days = form.elements.namedItem('days') as HTMLSelectElement;
    const chosen = days.value || '30';
    days.innerHTML = [7, 30, 90]
      .map((n) => `<option value="${n}">${escapeHtml(t('avDaysN', { n }))}</option>`)
      .join('');
    days.value = chosen;
    const site = form.elements.namedItem('site') as HTMLSelectElement;
    const at = site.value;
    site.innerHTML = [
      `<option value="">${escapeHtml(t('acAllSites'))}</option>`,
      ...this.host
        .sites()
        .filter((s) => s.level !== 'grid')
        .map((s) => `<option value="${escapeHtml(s.id)}">${escapeHtml(s.name)}</option>`),
    ].join('');
    site.value = [...site.options].some((o) => o.value === at) ? at : '';
    this.render();
  }

  focus(): void {
    this.root.querySelector<HTMLElement>('select')?.focus();
  }

  async load(): Promise<void> {
    const form = this.root.querySelector('[data-role=controls]') as HTMLFormElement;
    const data = new FormData(form);
    const status = this.root.querySelector('[data-role=status]') as HTMLElement;
    this.loading = true;
    status.textContent = t('avLoading');
    try {
      const site = String(data.get('site') ?? '');
      const answer = await get('/api/reports/availability', {
        query: { days: Number(data.get('days') || 30), ...(site ? { site } : {}) },
      });
      if (typeof answer === 'string') throw new Error('the hub answered CSV to a JSON request');
      this.report = answer;
      status.textContent = '';
      this.render();
    } catch (err) {
      status.textContent = errorMessage(err);
    } finally {
      this.loading = false;
    }
  }

  private kindName(kind: string): string {
    return t(`kind_${kind}` as Parameters<typeof t>[0]);
  }

  private seriesLabel(key: string): string {
    const [site, kind] = key.split('|') as [string, string];
    return `${this.host.siteName(site)} · ${this.kindName(kind)}`;
  }

  private render(): void {
    const chart = this.root.querySelector('[data-role=chart]') as HTMLElement;
    const legend = this.root.querySelector('[data-role=legend]') as HTMLElement;
    const summary = this.root.querySelector('[data-role=summary]') as HTMLElement;
    const daily = this.root.querySelector('[data-role=daily]') as HTMLElement;
    const report = this.report;
    if (!report) return;
    if (report.rows.length === 0) {
      chart.innerHTML = `<p class="muted">${escapeHtml(t('avNoData'))}</p>`;
      legend.innerHTML = '';
      summary.innerHTML = '';
      daily.innerHTML = '';
      return;
    }
    const days = reportDays(report.from, report.to, report.timeZoneOffsetMinutes);
    const lines = summarize(report.rows);
    const keys = [...new Set(report.rows.map(seriesKey))];
    // Drawn at its displayed size, so its labels are as large as the page's text (a wall screen too).
    const width = Math.max(320, Math.round(chart.clientWidth || 900));
    const fontPx = 0.8 * Number.parseFloat(getComputedStyle(document.documentElement).fontSize || '14');
    chart.innerHTML = chartSvg(report.rows, days, {
      width,
      height: Math.round(Math.min(Math.max(width * 0.28, 180), window.innerHeight * 0.38)),
      fontPx,
      label: (key) => this.seriesLabel(key),
      title: t('avChart'),
    });
    legend.innerHTML = keys
      .map(
        (key, n) =>
          `<li class="s${n % 8}"><span class="swatch"></span>${escapeHtml(this.seriesLabel(key))}</li>`,
      )
      .join('');
    const head = (cols: string[]) =>
      `<thead><tr>${cols.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr></thead>`;
    summary.innerHTML = `${head([t('avSite'), t('avKind'), t('avDevices'), t('avMean'), t('avWorst'), t('avOffline')])}<tbody>${lines
      .map(
        (s) => `<tr data-site="${escapeHtml(s.site)}" data-kind="${s.kind}">
          <td>${escapeHtml(this.host.siteName(s.site))}</td><td>${escapeHtml(this.kindName(s.kind))}</td>
          <td>${s.devices}</td><td>${percent(s.mean)}</td>
          <td>${escapeHtml(`${s.worstDay} ${percent(s.worstRate)}`)}</td><td>${Math.round(s.offlineMs / 60_000)}</td></tr>`,
      )
      .join('')}</tbody>`;
    daily.innerHTML = `${head([t('avDay'), t('avSite'), t('avKind'), t('avDevices'), t('avRate'), t('avOffline')])}<tbody>${[
      ...report.rows,
    ]
      .reverse()
      .map(
        (r) => `<tr data-day="${r.day}" data-site="${escapeHtml(r.site)}" data-kind="${r.kind}">
          <td>${r.day}</td><td>${escapeHtml(this.host.siteName(r.site))}</td><td>${escapeHtml(this.kindName(r.kind))}</td>
          <td class="devices">${r.devices}</td><td class="rate">${percent(r.onlineRate)}</td><td class="offline">${Math.round(r.offlineMs / 60_000)}</td></tr>`,
      )
      .join('')}</tbody>`;
  }

  private download(): void {
    const report = this.report;
    if (!report) return;
    const csv = availabilityCsv(
      report.rows,
      [t('avDay'), t('avSite'), t('avKind'), t('avDevices'), `${t('avRate')} (%)`, t('avOffline')],
      (id) => this.host.siteName(id),
      (kind) => this.kindName(kind),
    );
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
    a.download = `availability-${reportDays(report.from, report.to, report.timeZoneOffsetMinutes)[0] ?? ''}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
}
