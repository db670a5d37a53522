/**
 * The alarm centre (告警中心): the history of alarms with filters (state, severity, type, place,
 * time) and a search over devices, types, reasons and notes; a bulk acknowledgement with a note;
 * one alarm's timeline (raised, came back, re-notified, escalated up the site tree, acknowledged,
 * cleared, opened as an incident). Rows update from the live channel while the centre is open.
 */
import {
  ALARM_SEVERITIES,
  ALARM_SOURCES,
  ALARM_STATES,
  type AlarmTimelineEntry,
  type AlarmView,
  HEALTH_ALARM_TYPES,
} from '@qianliyan/protocols';
import { alarmNotes, alarmTitle, stateLabel } from '../alarm-centre/alarm-display.ts';
import { get, post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, eventLabel, getLang, severityLabel, t } from '../i18n.ts';
import { clearFieldErrors, errorSlot, showFieldError, showRequestError } from './form-feedback.ts';

/** Event types a duty room filters by, beside the health types (others appear as they are seen). */
const COMMON_EVENT_TYPES = ['intrusion', 'line_crossing', 'motion', 'tamper'];

export interface AlarmCentreHost {
  deviceName(key: string): string;
  siteName(id: string): string;
  sites(): Array<{ id: string; name: string; level: string }>;
  mayAcknowledge: boolean;
  /** Alarms this centre acknowledged (the sidebar's list drops them at once). */
  acknowledged(alarms: AlarmView[]): void;
}

export class AlarmCentre {
  private results: AlarmView[] = [];
  private readonly selected = new Set<number>();
  private readonly types = new Set<string>([...Object.keys(HEALTH_ALARM_TYPES), ...COMMON_EVENT_TYPES]);
  private openId: number | null = null;
  private loaded = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: AlarmCentreHost,
  ) {
    root.classList.add('alarm-centre');
    root.innerHTML = `
      <form class="ac-filters" data-role="filters">
        <h2 data-i18n="modeAlarmCentre"></h2>
        <label><span data-i18n="acState"></span><select name="state"></select></label>
        <label><span data-i18n="acSeverity"></span><select name="severity"></select></label>
        <label><span data-i18n="acType"></span><select name="type"></select></label>
        <label><span data-i18n="acSite"></span><select name="site"></select></label>
        <label><span data-i18n="acFrom"></span><input type="datetime-local" name="from" /></label>
        <label><span data-i18n="acTo"></span><input type="datetime-local" name="to" /></label>
        <label class="ac-search"><span data-i18n="acSearch"></span><input type="search" name="q" maxlength="100" /></label>
        <button type="submit" data-i18n="acApply"></button>
        ${errorSlot('*')}
      </form>
      <div class="ac-body">
        <section class="ac-results" data-role="results-section">
          <p class="ac-count" data-role="count" role="status"></p>
          <form class="ac-bulk" data-role="bulk">
            <label class="ac-note"><span data-i18n="acBulkNote"></span><textarea name="note" rows="2" maxlength="500"></textarea></label>
            ${errorSlot('note')}
            <button type="submit" data-role="bulk-ack"></button>
            ${errorSlot('*')}
            <p class="ac-bulk-result" data-role="bulk-result" role="status"></p>
          </form>
          <table class="ac-table">
            <thead><tr>
              <th scope="col"><input type="checkbox" data-role="select-all" /></th>
              <th scope="col" data-i18n="acTime"></th>
              <th scope="col" data-i18n="acSeverity"></th>
              <th scope="col" data-i18n="acWhat"></th>
              <th scope="col" data-i18n="acDevice"></th>
              <th scope="col" data-i18n="acState"></th>
            </tr></thead>
            <tbody data-role="rows"></tbody>
          </table>
        </section>
        <section class="ac-detail" data-role="detail" tabindex="-1"></section>
      </div>`;
    const filters = this.form('filters');
    filters.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.search();
    });
    this.form('bulk').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.bulkAck();
    });
    const rows = root.querySelector('[data-role=rows]') as HTMLElement;
    rows.addEventListener('change', (ev) => {
      const box = ev.target as HTMLInputElement;
      const id = Number(box.dataset.select);
      if (!id) return;
      if (box.checked) this.selected.add(id);
      else this.selected.delete(id);
      this.showBulk();
    });
    rows.addEventListener('click', (ev) => {
      const open = (ev.target as HTMLElement).closest<HTMLElement>('[data-open]');
      if (open) void this.openAlarm(Number(open.dataset.open));
    });
    root.querySelector('[data-role=select-all]')?.addEventListener('change', (ev) => {
      const on = (ev.target as HTMLInputElement).checked;
      this.selected.clear();
      if (on) for (const a of this.results) if (a.ackedAt === null) this.selected.add(a.id);
      this.renderRows();
      this.showBulk();
    });
    this.relabel();
  }

  /** The centre came into view: the first search runs then (nothing is fetched while hidden). */
  activate(): void {
    if (!this.loaded) void this.search();
  }

  /** A live alarm: updates its row (and its open timeline) when it is among the results. */
  update(alarm: AlarmView): void {
    this.types.add(alarm.type);
    const i = this.results.findIndex((a) => a.id === alarm.id);
    if (i < 0) return;
    this.results[i] = alarm;
    if (alarm.ackedAt !== null) this.selected.delete(alarm.id);
    this.renderRows();
    if (this.openId === alarm.id) void this.openAlarm(alarm.id, false);
  }

  relabel(): void {
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-i18n]'))
      el.textContent = t(el.dataset.i18n as Parameters<typeof t>[0]);
    this.fillSelects();
    this.root.querySelector('[data-role=select-all]')?.setAttribute('aria-label', t('acSelectAll'));
    this.renderRows();
    this.showBulk();
    if (this.openId !== null) void this.openAlarm(this.openId, false);
    else this.showDetailHint();
  }

  focus(): void {
    this.form('filters').querySelector<HTMLElement>('select')?.focus();
  }

  private form(role: string): HTMLFormElement {
    return this.root.querySelector(`[data-role=${role}]`) as HTMLFormElement;
  }

  private fillSelects(): void {
    const f = this.form('filters');
    const fill = (name: string, options: Array<[string, string]>) => {
      const select = f.elements.namedItem(name) as HTMLSelectElement;
      const value = select.value;
      select.innerHTML = options
        .map(([v, label]) => `<option value="${escapeHtml(v)}">${escapeHtml(label)}</option>`)
        .join('');
      select.value = options.some(([v]) => v === value) ? value : '';
    };
    fill('state', [
      ['', t('acAny')],
      ...ALARM_STATES.map((s) => [s, t(`alarmState_${s}`)] as [string, string]),
    ]);
    fill('severity', [
      ['', t('acAny')],
      ...[...ALARM_SEVERITIES].reverse().map((s) => [s, severityLabel(s)] as [string, string]),
    ]);
    fill('type', [
      ['', t('acAny')],
      ...ALARM_SOURCES.map((s) => [`source:${s}`, t(`alarmSource_${s}`)] as [string, string]),
      ...[...this.types]
        .filter((ty) => !ty.startsWith('rule.'))
        .map((ty) => [ty, eventLabel(ty)] as [string, string]),
    ]);
    fill('site', [
      ['', t('acAllSites')],
      ...this.host
        .sites()
        .filter((s) => s.level !== 'grid')
        .map((s) => [s.id, s.name] as [string, string]),
    ]);
  }

  /** The query of the filters form (a time range in local time, as the officer typed it). */
  private query(): Record<string, string | number | undefined> {
    const f = new FormData(this.form('filters'));
    const value = (name: string) => {
      const v = String(f.get(name) ?? '').trim();
      return v === '' ? undefined : v;
    };
    const time = (name: string) => {
      const v = value(name);
      return v ? new Date(v).getTime() : undefined;
    };
    const type = value('type');
    return {
      state: value('state'),
      severity: value('severity'),
      ...(type?.startsWith('source:') ? { source: type.slice(7) } : { type }),
      site: value('site'),
      q: value('q'),
      from: time('from'),
      to: time('to'),
      limit: 200,
    };
  }

  private async search(): Promise<void> {
    const form = this.form('filters');
    clearFieldErrors(form);
    const query = this.query();
    if (typeof query.from === 'number' && typeof query.to === 'number' && query.from > query.to) {
      showFieldError(
        form,
        'from',
        errorMessage({ code: 'HUB_ERR_VALIDATION', detail: { reason: 'bad_range' } }),
      );
      return;
    }
    try {
      const { alarms } = await get('/api/alarms', { query });
      this.loaded = true;
      this.results = alarms;
      for (const a of alarms) this.types.add(a.type);
      this.selected.clear();
      this.renderRows();
      this.showBulk();
    } catch (err) {
      showRequestError(form, err);
    }
  }

  private async bulkAck(): Promise<void> {
    const form = this.form('bulk');
    clearFieldErrors(form);
    const out = this.root.querySelector('[data-role=bulk-result]') as HTMLElement;
    out.textContent = '';
    const ids = [...this.selected];
    if (ids.length === 0) {
      showFieldError(form, undefined, t('acNothingSelected'));
      return;
    }
    const note = String(new FormData(form).get('note') ?? '').trim();
    try {
      const res = await post('/api/alarms/ack', { body: { ids, ...(note ? { note } : {}) } });
      for (const a of res.acknowledged) {
        const i = this.results.findIndex((r) => r.id === a.id);
        if (i >= 0) this.results[i] = a;
      }
      this.host.acknowledged(res.acknowledged);
      this.selected.clear();
      (form.elements.namedItem('note') as HTMLTextAreaElement).value = '';
      out.textContent = t('acBulkDone', { ok: res.acknowledged.length, skipped: res.skipped.length });
      this.renderRows();
      this.showBulk();
      if (this.openId !== null && ids.includes(this.openId)) void this.openAlarm(this.openId, false);
    } catch (err) {
      showRequestError(form, err);
    }
  }

  private showBulk(): void {
    const button = this.root.querySelector('[data-role=bulk-ack]') as HTMLButtonElement;
    button.textContent = t('acBulkAck', { n: this.selected.size });
    this.form('bulk').hidden = !this.host.mayAcknowledge;
    const count = this.root.querySelector('[data-role=count]') as HTMLElement;
    count.textContent = this.loaded
      ? this.results.length
        ? t('acResults', { n: this.results.length })
        : t('acNone')
      : '';
  }

  private renderRows(): void {
    const rows = this.root.querySelector('[data-role=rows]') as HTMLElement;
    const locale = getLang() === 'zh' ? 'zh-CN' : 'en-GB';
    const now = Date.now();
    rows.innerHTML = this.results
      .map((a) => {
        const when = new Date(a.ts).toLocaleString(locale, { hour12: false });
        const title = [alarmTitle(a), ...alarmNotes(a, now)].join(' · ');
        const box =
          a.ackedAt === null && this.host.mayAcknowledge
            ? `<input type="checkbox" data-select="${a.id}" ${this.selected.has(a.id) ? 'checked' : ''} aria-label="${escapeHtml(t('acSelectOne', { id: a.id }))}" />`
            : '';
        return `<tr data-alarm-row="${a.id}" data-state="${a.state}" data-severity="${a.severity}"${this.openId === a.id ? ' class="open"' : ''}>
          <td>${box}</td>
          <td>${escapeHtml(when)}</td>
          <td class="ac-sev">${escapeHtml(severityLabel(a.severity))}</td>
          <td><button type="button" class="link" data-open="${a.id}" aria-label="${escapeHtml(t('acOpen', { id: a.id }))}: ${escapeHtml(title)}">${escapeHtml(title)}</button></td>
          <td>${escapeHtml(`${this.host.deviceName(a.device)} · ${this.host.siteName(a.site)}`)}</td>
          <td class="ac-state">${escapeHtml(stateLabel(a))}</td>
        </tr>`;
      })
      .join('');
  }

  private showDetailHint(): void {
    const detail = this.root.querySelector('[data-role=detail]') as HTMLElement;
    detail.innerHTML = `<h3>${escapeHtml(t('acDetail'))}</h3><p class="muted">${escapeHtml(t('acPickAlarm'))}</p>`;
  }

  /** One alarm with its timeline, beside the list. */
  private async openAlarm(id: number, focus = true): Promise<void> {
    const detail = this.root.querySelector('[data-role=detail]') as HTMLElement;
    this.openId = id;
    try {
      const { alarm, timeline } = await get('/api/alarms/:id', { params: { id } });
      const locale = getLang() === 'zh' ? 'zh-CN' : 'en-GB';
      const at = (ts: number) => new Date(ts).toLocaleString(locale, { hour12: false });
      const facts = [
        t('factLine', { k: t('acSeverity'), v: severityLabel(alarm.severity) }),
        t('factLine', { k: t('acState'), v: stateLabel(alarm) }),
        t('factLine', { k: t('acOwner'), v: this.host.siteName(alarm.owner) }),
        ...alarmNotes(alarm, Date.now()),
        ...(alarm.renotified ? [t('acRenotified', { n: alarm.renotified })] : []),
        ...(alarm.escalations ? [t('acEscalations', { n: alarm.escalations })] : []),
        ...(alarm.ackedBy && alarm.ackedAt !== null
          ? [t('acAckedBy', { who: alarm.ackedBy, at: at(alarm.ackedAt) })]
          : []),
        ...(alarm.ackNote ? [t('acNote', { note: alarm.ackNote })] : []),
        ...(alarm.incident ? [t('acIncident', { id: alarm.incident })] : []),
      ];
      detail.innerHTML = `<h3>${escapeHtml(`${alarmTitle(alarm)} · ${this.host.deviceName(alarm.device)}`)}</h3>
        <ul class="ac-facts">${facts.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul>
        <h4>${escapeHtml(t('timeline'))}</h4>
        <ol class="ac-timeline">${timeline
          .map(
            (e) =>
              `<li data-action="${e.action}"><time>${escapeHtml(at(e.ts))}</time> <span>${escapeHtml(this.timelineText(e))}</span>${
                e.note ? ` <q>${escapeHtml(e.note)}</q>` : ''
              } <span class="muted">${escapeHtml(e.actor === 'hub' ? t('actorSystem') : e.actor)}</span></li>`,
          )
          .join('')}</ol>`;
      for (const tr of this.root.querySelectorAll<HTMLElement>('[data-alarm-row]'))
        tr.classList.toggle('open', Number(tr.dataset.alarmRow) === id);
      if (focus) detail.focus();
    } catch (err) {
      detail.innerHTML = `<p class="field-error" role="alert">${escapeHtml(errorMessage(err))}</p>`;
    }
  }

  private timelineText(e: AlarmTimelineEntry): string {
    const data = e.data ?? {};
    if (e.action === 'escalated')
      return t('tl_escalated', {
        from: this.host.siteName(String(data.from ?? '')),
        to: this.host.siteName(String(data.to ?? '')),
      });
    if (e.action === 'incident') return t('tl_incident', { id: String(data.incident ?? '') });
    return t(`tl_${e.action}`);
  }
}
