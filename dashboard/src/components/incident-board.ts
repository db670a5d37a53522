/**
 * The incident board: incidents in the user's scope with filters, SLA countdowns coloured by urgency
 * (breached red, warned amber), the KPIs of the last 30 days, and the selected incident's detail with
 * its timeline, the actions its state allows, the linkage panel (nearest cameras, a proposed warning,
 * the nearest drone) and a call to its village. Live: incidents arrive on the socket and are updated
 * in place; countdowns tick every second, in the list and in the open incident.
 *
 * The latest linkage plan of each incident lives in the live store (`store.topics.linkage`, keyed by
 * incident), filled by the socket and, when an incident is opened, from its timeline: a plan a rule
 * ran at night is still there when the morning officer opens the incident.
 *
 * Forms say what is wrong beside the field, in the user's language, before sending (blank, too
 * long — with a count while typing) and after (the hub's refusal by its code and field); a form is
 * sent once however often its button is pressed.
 */
import {
  INCIDENT_PRIORITIES,
  INCIDENT_TRANSITIONS,
  type IncidentAction,
  type IncidentEvent,
  type IncidentView,
  type LinkageEvent,
  type LinkagePlan,
  may,
  type Role,
} from '@qianliyan/protocols';
import { type Answer, get, getToken, post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, eventLabel, getLang, t, tOr } from '../i18n.ts';
import {
  checkFields,
  clearFieldErrors,
  counterSlot,
  errorSlot,
  showRequestError,
  watchCounters,
} from './form-feedback.ts';
import { RovingFocus } from './roving-focus.ts';

type KpiRow = Answer<'GET', '/api/incidents/kpis'>[number];

const CATEGORIES = ['fire', 'flood', 'intrusion', 'rescue', 'traffic', 'dispute', 'other'] as const;
const DAY = 86_400_000;
/** The contract's limits (protocols IncidentCreate / IncidentTransition), shown while typing. */
const LIMITS = { title: 120, description: 4000, note: 2000, assignee: 64, feedback: 2000 } as const;

export interface IncidentBoardOptions {
  role: Role;
  /** Village choices for a new incident (id and name). */
  villages: () => Array<{ id: string; name: string }>;
  siteName: (id: string) => string;
  deviceName: (key: string) => string;
  /** Whether a device is a camera (snapshots can be attached from it). */
  isCamera?: (key: string) => boolean;
  /** Picks a point on the map (null when cancelled); absent on the village terminal. */
  pickPoint?: () => Promise<{ lat: number; lon: number } | null>;
  /** Calls the incident's village (officers) or the command room (a village terminal). */
  call: (incident: IncidentView) => void;
  /** Puts cameras on the video wall, without leaving the board. */
  openCameras?: (keys: string[]) => void;
  /** Switches to a view that shows the video wall. */
  showWall?: () => void;
  onChange?: (incidents: IncidentView[]) => void;
  /** The latest linkage plan per incident (the live store's linkage collection). */
  plans: {
    get(incident: number): LinkageEvent | undefined;
    remember(event: LinkageEvent): void;
  };
  /** A linkage rule's name (its id when unknown). */
  ruleName?: (id: string) => string;
}

export class IncidentBoard {
  private readonly incidents = new Map<number, IncidentView>();
  private selected: number | undefined;
  private filter = { status: 'open', priority: '' };
  private readonly timer: number;
  private kpiTimer = 0;
  /** The last KPI rows fetched (a language switch draws them again). */
  private kpiRows: KpiRow[] | undefined;
  /** A form is being sent: further presses of its button do nothing. */
  private sending = false;
  /** The warning waiting for the officer's confirmation (its text shown first). */
  private confirmingWarning = false;
  private wallNotice = false;
  private readonly listFocus: RovingFocus;

  constructor(
    private readonly root: HTMLElement,
    private readonly options: IncidentBoardOptions,
  ) {
    root.classList.add('incident-board');
    root.innerHTML = `
      <div class="ib-kpis" data-role="kpis"></div>
      <div class="ib-body">
        <section class="ib-list-pane">
          <div class="ib-filters" data-role="filters"></div>
          <form class="ib-new" data-role="new-form" novalidate hidden></form>
          <ul class="ib-list" data-role="list" aria-live="polite"></ul>
        </section>
        <section class="ib-detail" data-role="detail"></section>
      </div>`;
    this.listFocus = new RovingFocus(this.el('list'), 'id');
    this.renderFilters();
    root.addEventListener('change', (ev) => {
      const el = ev.target as HTMLSelectElement;
      if (el.dataset.filter === 'status' || el.dataset.filter === 'priority') {
        this.filter[el.dataset.filter] = el.value;
        this.renderList();
      }
    });
    root.addEventListener('click', (ev) => void this.onClick(ev));
    root.addEventListener('submit', (ev) => void this.onSubmit(ev));
    this.el('list').addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      const item = (ev.target as HTMLElement).closest<HTMLElement>('[data-id]');
      if (item && ev.target === item) {
        ev.preventDefault();
        this.open(Number(item.dataset.id));
      }
    });
    this.renderDetail();
    this.timer = window.setInterval(() => this.tick(), 1000);
  }

  private el<T extends HTMLElement = HTMLElement>(role: string): T {
    return this.root.querySelector(`[data-role=${role}]`) as T;
  }

  /** Accepts, assigns, handles and closes incidents (the access module's rule). */
  private get acting(): boolean {
    return may(this.options.role, 'actOnIncident');
  }

  /** Runs linkage by hand and sends its proposed warning. */
  private get officer(): boolean {
    return may(this.options.role, 'linkIncident');
  }

  dispose(): void {
    window.clearInterval(this.timer);
    window.clearTimeout(this.kpiTimer);
  }

  /** The language changed: every text again, with the filters, the open form and typed text kept. */
  relabel(): void {
    this.renderFilters();
    const form = this.el<HTMLFormElement>('new-form');
    if (!form.hidden) {
      const values = formValues(form);
      this.fillNewForm();
      restoreValues(form, values);
    }
    this.renderList();
    this.renderDetail();
    // The figures already here, in the new words (not fetched again).
    if (this.kpiRows) this.renderKpis(this.kpiRows);
  }

  async load(): Promise<void> {
    const list = await get('/api/incidents', { query: { limit: 500 } });
    for (const i of list) this.incidents.set(i.id, i);
    this.renderList();
    this.loadKpis();
  }

  /** A live incident (new or changed). */
  upsert(incident: IncidentView): void {
    // The live copy has no timeline: keep the one already loaded for the open incident.
    const before = this.incidents.get(incident.id);
    this.incidents.set(
      incident.id,
      incident.events || !before?.events ? incident : { ...incident, events: before.events },
    );
    this.renderList();
    if (incident.id === this.selected) {
      this.renderDetail();
      // Its timeline grew (an action, a linkage, a call): fetched again with it.
      this.fetchOne(incident.id);
    }
    window.clearTimeout(this.kpiTimer);
    this.kpiTimer = window.setTimeout(() => this.loadKpis(), 1000);
  }

  /** A linkage plan arrived (the live store already keeps it): redraw if it is the open incident's. */
  linkage(plan: LinkagePlan): void {
    if (plan.incident !== null && plan.incident === this.selected) this.renderDetail();
  }

  list(): IncidentView[] {
    return [...this.incidents.values()].sort((a, b) => b.id - a.id);
  }

  open(id: number): void {
    if (this.selected !== id) {
      this.confirmingWarning = false;
      this.wallNotice = false;
    }
    this.selected = id;
    this.renderList();
    this.renderDetail();
    this.fetchOne(id);
  }

  /** The incident with its timeline; the plan a rule ran is taken from it when the store has none. */
  private fetchOne(id: number): void {
    void get('/api/incidents/:id', { params: { id } })
      .then((i) => {
        this.incidents.set(i.id, i);
        const linked = [...(i.events ?? [])].reverse().find((e) => e.action === 'linked' && e.data?.plan);
        const plan = linked?.data?.plan as LinkagePlan | undefined;
        const known = this.options.plans.get(i.id);
        if (plan && (!known || known.plan.ts < plan.ts))
          this.options.plans.remember({ plan, by: linked?.actor ?? '' });
        if (this.selected === i.id) this.renderDetail();
      })
      .catch((err) => this.message(errorMessage(err)));
  }

  private visible(): IncidentView[] {
    return this.list().filter((i) => {
      if (this.filter.status === 'open' && (i.status === 'resolved' || i.status === 'closed')) return false;
      if (this.filter.status && this.filter.status !== 'open' && i.status !== this.filter.status)
        return false;
      if (this.filter.priority && i.priority !== this.filter.priority) return false;
      return true;
    });
  }

  private renderFilters(): void {
    const option = (value: string, label: string, current: string) =>
      `<option value="${value}"${value === current ? ' selected' : ''}>${escapeHtml(label)}</option>`;
    this.el('kpis').setAttribute('aria-label', t('kpis'));
    this.el('filters').innerHTML = `
      <select data-filter="status" aria-label="${t('filterStatus')}">
        ${option('open', t('incOpen'), this.filter.status)}${option('', t('incAll'), this.filter.status)}
        ${Object.keys(STATUS_LABEL)
          .map((s) => option(s, t(STATUS_LABEL[s as keyof typeof STATUS_LABEL]), this.filter.status))
          .join('')}
      </select>
      <select data-filter="priority" aria-label="${t('incPriority')}">
        ${option('', t('allPriorities'), this.filter.priority)}
        ${INCIDENT_PRIORITIES.map((p) => option(p, t(`prio_${p}` as 'prio_low'), this.filter.priority)).join('')}
      </select>
      ${may(this.options.role, 'reportIncident') ? `<button type="button" data-role="new" class="primary" aria-expanded="${!this.el('new-form').hidden}">${t('newIncident')}</button>` : ''}`;
  }

  private renderList(): void {
    const el = this.el('list');
    const items = this.visible();
    el.setAttribute('aria-label', t('modeIncidents'));
    el.innerHTML =
      items
        .map((i) => {
          const sla = slaOf(i);
          return `<li class="incident urgency-${sla.urgency} prio-${i.priority}${i.id === this.selected ? ' selected' : ''}" data-id="${i.id}" tabindex="-1" aria-current="${i.id === this.selected}">
            <span class="ib-prio">${t(`prio_${i.priority}` as 'prio_low')}</span>
            <span class="ib-title">#${i.id} ${escapeHtml(incidentTitle(i))}</span>
            <span class="ib-site">${escapeHtml(this.options.siteName(i.site))}${i.owner !== i.site ? ` → ${escapeHtml(this.options.siteName(i.owner))}` : ''}</span>
            <span class="ib-status">${t(STATUS_LABEL[i.status])}</span>
            <span class="ib-sla" data-role="sla" data-id="${i.id}">${escapeHtml(sla.text)}</span></li>`;
        })
        .join('') || `<li class="empty">${t('noIncidents')}</li>`;
    this.listFocus.refresh();
    this.options.onChange?.(this.list());
  }

  private tick(): void {
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-role=sla], [data-role=sla-detail]')) {
      const i = this.incidents.get(Number(el.dataset.id));
      if (!i) continue;
      const sla = slaOf(i);
      const text = el.dataset.role === 'sla-detail' ? slaDetail(i) : sla.text;
      if (el.textContent !== text) el.textContent = text;
      const holder = el.dataset.role === 'sla-detail' ? el : el.closest('li');
      if (holder && !holder.classList.contains(`urgency-${sla.urgency}`)) {
        holder.classList.remove('urgency-ok', 'urgency-warn', 'urgency-breach', 'urgency-done');
        holder.classList.add(`urgency-${sla.urgency}`);
      }
    }
  }

  private loadKpis(): void {
    const to = Date.now() + 1000;
    void get('/api/incidents/kpis', { query: { from: to - 30 * DAY, to } })
      .then((rows) => {
        this.kpiRows = rows;
        this.renderKpis(rows);
      })
      .catch(() => undefined);
  }

  private renderKpis(rows: KpiRow[]): void {
    const total = rows.find((r) => r.site === 'total');
    const el = this.el('kpis');
    const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
    const dur = (ms: number | null) => (ms === null ? '—' : formatDuration(ms));
    const villages = rows.filter((r) => r.site !== 'total');
    const table = villages.length
      ? `<details class="ib-kpi-table"><summary>${t('kpiByVillage')}</summary><table>
              <thead><tr><th>${t('incSite')}</th><th>${t('kpiCreated')}</th><th>${t('kpiAcceptance')}</th><th>${t('kpiClosure')}</th><th>${t('kpiOnTime')}</th><th>${t('kpiMtta')}</th><th>${t('kpiMttr')}</th></tr></thead>
              <tbody>${villages
                .map(
                  (r) =>
                    `<tr data-site="${escapeHtml(r.site)}"><td>${escapeHtml(this.options.siteName(r.site) || r.name)}</td><td>${r.created}</td><td>${pct(r.acceptanceRate)}</td><td>${pct(r.closureRate)}</td><td>${pct(r.onTimeRate)}</td><td>${dur(r.meanTimeToAcceptMs)}</td><td>${dur(r.meanTimeToResolveMs)}</td></tr>`,
                )
                .join('')}</tbody></table></details>`
      : '';
    const open = el.querySelector('details')?.open ?? false;
    el.innerHTML = total
      ? `<span>${t('kpiWindow')}</span>
            <span>${t('kpiCreated')} <b>${total.created}</b></span>
            <span>${t('kpiAcceptance')} <b data-kpi="acceptance">${pct(total.acceptanceRate)}</b></span>
            <span>${t('kpiClosure')} <b data-kpi="closure">${pct(total.closureRate)}</b></span>
            <span>${t('kpiOnTime')} <b data-kpi="ontime">${pct(total.onTimeRate)}</b></span>
            <span>${t('kpiMtta')} <b>${dur(total.meanTimeToAcceptMs)}</b></span>
            <span>${t('kpiMttr')} <b>${dur(total.meanTimeToResolveMs)}</b></span>${table}`
      : '';
    const details = el.querySelector('details');
    if (details) details.open = open;
  }

  private renderDetail(): void {
    const el = this.el('detail');
    const i = this.selected === undefined ? undefined : this.incidents.get(this.selected);
    if (!i) {
      el.innerHTML = `<p class="muted">${t('pickIncident')}</p>`;
      return;
    }
    // What the officer was typing survives a live update of the incident.
    const typing = el.querySelector<HTMLFormElement>(`form[data-role=transition][data-id="${i.id}"]`);
    const kept = typing ? formValues(typing) : undefined;
    const actions = (Object.keys(INCIDENT_TRANSITIONS) as IncidentAction[]).filter(
      (a) =>
        (INCIDENT_TRANSITIONS[a].from as readonly string[]).includes(i.status) &&
        // Nothing below the village to return it to.
        !(a === 'return' && i.owner === i.site),
    );
    const sla = slaOf(i);
    const plan = this.options.plans.get(i.id)?.plan;
    const field = (name: keyof typeof LIMITS, label: string) =>
      `<label class="ib-field">${label} ${counterSlot(name, LIMITS[name])}
        <input name="${name}" autocomplete="off">${errorSlot(name)}</label>`;
    el.innerHTML = `
      <h2>#${i.id} ${escapeHtml(incidentTitle(i))}</h2>
      <dl class="meta">
        <dt>${t('incStatus')}</dt><dd data-role="status">${t(STATUS_LABEL[i.status])}</dd>
        <dt>${t('incPriority')}</dt><dd>${t(`prio_${i.priority}` as 'prio_low')}</dd>
        <dt>${t('incCategory')}</dt><dd>${escapeHtml(tOr(`cat_${i.category}`, i.category))}</dd>
        <dt>${t('incSite')}</dt><dd>${escapeHtml(this.options.siteName(i.site))}</dd>
        <dt>${t('incOwner')}</dt><dd data-role="owner">${escapeHtml(this.options.siteName(i.owner))}</dd>
        <dt>${t('incSla')}</dt><dd class="urgency-${sla.urgency}" data-role="sla-detail" data-id="${i.id}">${escapeHtml(slaDetail(i))}</dd>
        ${i.assignee ? `<dt>${t('incAssignee')}</dt><dd data-role="assignee">${escapeHtml(i.assignee)}</dd>` : ''}
        ${i.devices.length ? `<dt>${t('devices')}</dt><dd>${i.devices.map((d) => escapeHtml(this.options.deviceName(d))).join(t('listSep'))}</dd>` : ''}
        ${i.feedback ? `<dt>${t('incFeedback')}</dt><dd>${escapeHtml(i.feedback)}</dd>` : ''}
      </dl>
      ${i.description ? `<p class="ib-description">${escapeHtml(i.description)}</p>` : ''}
      ${
        this.acting && actions.length
          ? `<form class="ib-actions" data-role="transition" data-id="${i.id}" novalidate>
          ${field('note', t('incNote'))}
          ${actions.includes('assign') ? field('assignee', t('incAssignee')) : ''}
          ${actions.includes('close') ? field('feedback', t('incFeedback')) : ''}
          <div class="ib-buttons">${actions.map((a) => `<button type="submit" name="action" value="${a}" data-action="${a}">${t(`act_${a}` as 'act_accept')}</button>`).join('')}</div>
          ${errorSlot('*')}
        </form>`
          : ''
      }
      <div class="ib-tools">
        ${this.officer && i.location ? `<button type="button" data-role="link" data-id="${i.id}">${t('linkNow')}</button>` : ''}
        ${may(this.options.role, 'placeCall') ? `<button type="button" data-role="call" data-id="${i.id}">${may(this.options.role, 'callVillage') ? t('callVillage') : t('callCommandRoom')}</button>` : ''}
        ${
          this.acting
            ? i.devices
                .filter((d) => this.options.isCamera?.(d))
                .map(
                  (d) =>
                    `<button type="button" data-role="attach" data-device="${escapeHtml(d)}">${t('attachSnapshot')} · ${escapeHtml(this.options.deviceName(d))}</button>`,
                )
                .join('')
            : ''
        }
      </div>
      ${plan ? this.planHtml(plan) : ''}
      ${i.attachments.length ? `<div class="ib-attachments">${i.attachments.map((_a, n) => `<button type="button" class="link" data-role="attachment" data-n="${n}">${t('snapshot')} ${n + 1}</button>`).join(' ')}<div data-role="attachment-view"></div></div>` : ''}
      <h3>${t('timeline')}</h3>
      <ol class="ib-timeline">${(i.events ?? []).map((e) => `<li>${this.eventHtml(e)}</li>`).join('')}</ol>
      <p class="ib-msg" data-role="msg" role="status"></p>`;
    const form = el.querySelector<HTMLFormElement>('form[data-role=transition]');
    if (form) {
      if (kept) restoreValues(form, kept);
      watchCounters(form);
    }
  }

  /** One line of the timeline, in words: who did what, to whom, with what outcome. */
  private eventHtml(e: IncidentEvent): string {
    const when = new Date(e.ts).toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-GB');
    const data = e.data ?? {};
    const parts: string[] = [escapeHtml(tOr(`ev_${e.action}`, e.action))];
    if (e.to) parts.push(`→ ${escapeHtml(tOr(STATUS_LABEL[e.to as keyof typeof STATUS_LABEL] ?? '', e.to))}`);
    if (typeof data.assignee === 'string')
      parts.push(`· ${t('incAssignee')} <b data-role="ev-assignee">${escapeHtml(data.assignee)}</b>`);
    if (typeof data.owner === 'string')
      parts.push(`· ${t('incOwner')} ${escapeHtml(this.options.siteName(data.owner))}`);
    if (e.action === 'linked') {
      const count = (v: unknown) => (Array.isArray(v) ? v.length : 0);
      // A plan (a rule's or the one-click link), the warning it proposed started, or the drone sent.
      if (Array.isArray(data.cameras))
        parts.push(
          `· ${t('linkedCounts', { cameras: count(data.cameras), speakers: count(data.speakers) })}`,
        );
      else if (typeof data.broadcast === 'string') parts.push(`· ${t('warningStarted')}`);
      else if (typeof data.drone === 'string')
        parts.push(`· ${t('droneSent')}: ${escapeHtml(this.options.deviceName(data.drone))}`);
    }
    if (e.action === 'call' && typeof data.seconds === 'number')
      parts.push(`· ${formatDuration(data.seconds * 1000)}`);
    if (e.note) parts.push(`· ${escapeHtml(e.note)}`);
    return `<time>${escapeHtml(when)}</time> <b>${escapeHtml(actorName(e.actor))}</b> ${parts.join(' ')}`;
  }

  private planHtml(plan: LinkagePlan): string {
    const officer = this.officer;
    const warning = plan.broadcast;
    return `<div class="ib-plan" data-role="plan">
      <h3>${t('linkage')}${plan.rule ? ` · ${escapeHtml(this.options.ruleName?.(plan.rule) ?? plan.rule)}` : ''}</h3>
      <p>${t('linkCameras')}: ${plan.cameras.map((c) => `${escapeHtml(this.options.deviceName(c.key))} (${c.distanceM} m${c.inView ? '' : ` · ${t('mustTurn')}`})`).join(t('listSep')) || '—'}
        ${plan.cameras.length && this.options.showWall ? `<button type="button" data-role="show-wall">${t('showOnWall')}</button>` : ''}</p>
      ${this.wallNotice ? `<p class="muted" data-role="wall-notice">${t('camerasOnWall', { n: Math.min(4, plan.cameras.length) })}</p>` : ''}
      <p>${t('linkSpeakers')}: ${plan.speakers.map((s) => `${escapeHtml(this.options.deviceName(s.key))} (${s.distanceM} m)`).join(t('listSep')) || '—'}</p>
      ${
        warning
          ? `<figure class="ib-warning"><figcaption>${warning.mode === 'started' ? t('warningStarted') : t('warningProposed')}</figcaption>
          <blockquote data-role="warning-text">${escapeHtml(warning.text)}</blockquote></figure>`
          : ''
      }
      ${
        warning?.mode === 'proposed' && officer && plan.speakers.length
          ? this.confirmingWarning
            ? `<div class="ib-confirm" data-role="warning-confirm"><span>${t('warningConfirm', { n: plan.speakers.length })}</span>
              <button type="button" class="danger" data-role="plan-broadcast">${t('playWarningNow')}</button>
              <button type="button" data-role="plan-broadcast-cancel">${t('cancel')}</button></div>`
            : `<button type="button" data-role="plan-broadcast-ask">${t('playWarning')}</button>`
          : ''
      }
      <p>${t('linkDrone')}: ${plan.drone ? `${escapeHtml(this.options.deviceName(plan.drone.key))} (${plan.drone.distanceM} m) ${may(this.options.role, 'dispatchDrone') ? `<button type="button" data-role="plan-drone">${t('sendDrone')}</button>` : ''}` : '—'}</p>
    </div>`;
  }

  private message(text: string): void {
    const el = this.root.querySelector('[data-role=msg]');
    if (el) el.textContent = text;
  }

  private async onClick(ev: Event): Promise<void> {
    const target = ev.target as HTMLElement;
    const item = target.closest<HTMLElement>('li.incident[data-id]');
    if (item) return this.open(Number(item.dataset.id));
    const role = target.closest<HTMLElement>('[data-role]')?.dataset.role;
    const i = this.selected === undefined ? undefined : this.incidents.get(this.selected);
    try {
      if (role === 'new') return this.toggleNewForm();
      if (role === 'pick' && this.options.pickPoint) {
        ev.preventDefault();
        const at = await this.options.pickPoint();
        const form = this.el<HTMLFormElement>('new-form');
        if (at && form) {
          (form.elements.namedItem('lat') as HTMLInputElement).value = at.lat.toFixed(6);
          (form.elements.namedItem('lon') as HTMLInputElement).value = at.lon.toFixed(6);
        }
        return;
      }
      if (!i) return;
      if (role === 'attach') {
        const device = target.closest<HTMLElement>('[data-device]')?.dataset.device;
        await post('/api/incidents/:id/attachments', { params: { id: i.id }, body: { device } });
        this.open(i.id);
        return;
      }
      if (role === 'attachment') {
        // Fetched with the session's token (an <img src> could not carry it), shown inline.
        const n = target.closest<HTMLElement>('[data-n]')?.dataset.n;
        const res = await fetch(`/api/incidents/${i.id}/attachments/${n}`, {
          headers: { authorization: `Bearer ${getToken() ?? ''}` },
        });
        if (!res.ok) throw new Error(res.statusText);
        const img = document.createElement('img');
        img.className = 'ib-snapshot';
        img.alt = `${t('snapshot')} ${Number(n) + 1}`;
        img.src = URL.createObjectURL(await res.blob());
        this.root.querySelector('[data-role=attachment-view]')?.replaceChildren(img);
        return;
      }
      const plan = this.options.plans.get(i.id)?.plan;
      if (role === 'link') {
        const linked = await post('/api/incidents/:id/link', { params: { id: i.id } });
        this.options.plans.remember({ plan: linked, by: '' });
        // The cameras go up on the wall; the officer stays on the incident (the wall is a click away).
        this.options.openCameras?.(linked.cameras.map((c) => c.key));
        this.wallNotice = linked.cameras.length > 0;
        this.renderDetail();
      } else if (role === 'show-wall') this.options.showWall?.();
      else if (role === 'call') this.options.call(i);
      else if (role === 'plan-broadcast-ask') {
        this.confirmingWarning = true;
        this.renderDetail();
        this.root.querySelector<HTMLElement>('[data-role=plan-broadcast]')?.focus();
      } else if (role === 'plan-broadcast-cancel') {
        this.confirmingWarning = false;
        this.renderDetail();
      } else if (role === 'plan-broadcast' && plan?.broadcast) {
        this.confirmingWarning = false;
        const text = plan.broadcast.text;
        const started = await post('/api/incidents/:id/link/broadcast', {
          params: { id: i.id },
          body: { speakers: plan.speakers.map((s) => s.key), text },
        });
        this.options.plans.remember({
          plan: { ...plan, broadcast: { mode: 'started', id: started.broadcast, text } },
          by: '',
        });
        this.renderDetail();
      } else if (role === 'plan-drone' && plan?.drone) {
        await post('/api/incidents/:id/link/drone', {
          params: { id: i.id },
          body: { drone: plan.drone.key },
        });
        this.message(t('droneSent'));
      }
    } catch (err) {
      this.message(errorMessage(err));
    }
  }

  private toggleNewForm(): void {
    const form = this.el<HTMLFormElement>('new-form');
    form.hidden = !form.hidden;
    this.root.querySelector('[data-role=new]')?.setAttribute('aria-expanded', String(!form.hidden));
    if (form.hidden) return;
    this.fillNewForm();
    form.querySelector<HTMLElement>('[name=title]')?.focus();
  }

  private fillNewForm(): void {
    const form = this.el<HTMLFormElement>('new-form');
    const villages = this.options.villages();
    form.innerHTML = `
      <label class="ib-field ib-wide">${t('incTitle')} ${counterSlot('title', LIMITS.title)}
        <input name="title" autocomplete="off">${errorSlot('title')}</label>
      <label class="ib-field">${t('incCategory')}<select name="category">${CATEGORIES.map((c) => `<option value="${c}">${t(`cat_${c}` as 'cat_fire')}</option>`).join('')}</select></label>
      <label class="ib-field">${t('incPriority')}<select name="priority">${INCIDENT_PRIORITIES.map((p) => `<option value="${p}"${p === 'normal' ? ' selected' : ''}>${t(`prio_${p}` as 'prio_low')}</option>`).join('')}</select></label>
      <label class="ib-field ib-wide">${t('incSite')}<select name="site">${villages.map((v) => `<option value="${escapeHtml(v.id)}">${escapeHtml(v.name)}</option>`).join('')}</select>${errorSlot('site')}</label>
      <label class="ib-field">${t('lat')}<input name="lat" inputmode="decimal" autocomplete="off"></label>
      <label class="ib-field">${t('lon')}<input name="lon" inputmode="decimal" autocomplete="off"></label>
      ${this.options.pickPoint ? `<button type="button" class="ib-wide" data-role="pick">${t('pickOnMap')}</button>` : ''}
      <label class="ib-field ib-wide">${t('incDescription')} ${counterSlot('description', LIMITS.description)}
        <textarea name="description" rows="3"></textarea>${errorSlot('description')}</label>
      ${errorSlot('*')}
      <button type="submit" class="primary ib-wide" data-role="create">${t('report')}</button>`;
    watchCounters(form);
  }

  private async onSubmit(ev: Event): Promise<void> {
    ev.preventDefault();
    const form = ev.target as HTMLFormElement;
    // One incident per report, however often 上报 is pressed while the first is on its way.
    if (this.sending) return;
    const data = new FormData(form);
    const submitter = (ev as SubmitEvent).submitter as HTMLButtonElement | null;
    try {
      if (form.dataset.role === 'new-form') {
        if (!checkFields(form, ['title'])) return;
        this.sending = true;
        if (submitter) submitter.disabled = true;
        const lat = Number(data.get('lat'));
        const lon = Number(data.get('lon'));
        const created = await post('/api/incidents', {
          body: {
            title: String(data.get('title')).trim(),
            category: String(data.get('category')),
            priority: String(data.get('priority')),
            site: String(data.get('site')),
            ...(data.get('lat') && data.get('lon') && Number.isFinite(lat) && Number.isFinite(lon)
              ? { location: { lat, lon } }
              : {}),
            ...(String(data.get('description') ?? '').trim()
              ? { description: String(data.get('description')).trim() }
              : {}),
          },
        });
        form.hidden = true;
        form.innerHTML = '';
        this.root.querySelector('[data-role=new]')?.setAttribute('aria-expanded', 'false');
        this.upsert(created);
        this.open(created.id);
      } else if (form.dataset.role === 'transition') {
        const action = submitter?.getAttribute('value') as IncidentAction | null;
        if (!action) return;
        const required = action === 'assign' ? ['assignee'] : action === 'close' ? ['feedback'] : [];
        if (!checkFields(form, required)) return;
        clearFieldErrors(form);
        this.sending = true;
        if (submitter) submitter.disabled = true;
        const body: Record<string, string> = { action };
        for (const k of ['note', 'assignee', 'feedback']) {
          const v = String(data.get(k) ?? '').trim();
          if (v) body[k] = v;
        }
        const updated = await post('/api/incidents/:id/transitions', {
          params: { id: String(form.dataset.id) },
          body,
        });
        form.reset();
        this.upsert(updated);
      }
    } catch (err) {
      if (form.isConnected) showRequestError(form, err);
      else this.message(errorMessage(err));
    } finally {
      this.sending = false;
      if (submitter) submitter.disabled = false;
    }
  }
}

function formValues(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const el of form.querySelectorAll<HTMLInputElement>('input[name], textarea[name], select[name]'))
    out[el.name] = el.value;
  return out;
}

function restoreValues(form: HTMLFormElement, values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) {
    const el = form.querySelector<HTMLInputElement>(`[name="${name}"]`);
    if (el) el.value = value;
  }
  form.dispatchEvent(new Event('input'));
}

/** The linkage service acts as `linkage`: shown as the system, not as a user name. */
function actorName(actor: string): string {
  return actor === 'linkage' || actor === 'system' ? t('actorSystem') : actor;
}

/**
 * A rule-made incident without a title of its own is named "{device} · {event type}" by the hub;
 * the event type is a code, worded here in the officer's language.
 */
export function incidentTitle(i: Pick<IncidentView, 'title' | 'source'>): string {
  if (i.source !== 'rule') return i.title;
  const m = /^(.*)[:·] ?([a-z][a-z0-9_.]*)$/.exec(i.title);
  return m ? `${(m[1] as string).trim()} · ${eventLabel(m[2] as string)}` : i.title;
}

const STATUS_LABEL = {
  new: 'st_new',
  accepted: 'st_accepted',
  assigned: 'st_assigned',
  in_progress: 'st_in_progress',
  resolved: 'st_resolved',
  closed: 'st_closed',
  escalated: 'st_escalated',
  returned: 'st_returned',
} as const;

/** The deadline that matters now, how far it is, and how urgent that is. */
export function slaOf(
  i: IncidentView,
  now = Date.now(),
): { text: string; urgency: 'ok' | 'warn' | 'breach' | 'done'; due?: number } {
  if (i.status === 'closed' || i.status === 'resolved') return { text: t('slaDone'), urgency: 'done' };
  const waitingAccept = i.accept.metAt === null;
  const timer = waitingAccept ? i.accept : i.resolve;
  const label = waitingAccept ? t('slaAccept') : t('slaResolve');
  const left = timer.due - now;
  if (left <= 0 || timer.breachedAt !== null)
    return {
      text: `${label} ${t('slaOverdue')} ${formatDuration(-left)}`,
      urgency: 'breach',
      due: timer.due,
    };
  return {
    text: `${label} ${formatDuration(left)}`,
    urgency: timer.warnedAt !== null ? 'warn' : 'ok',
    due: timer.due,
  };
}

/** The open incident's deadline: the countdown and the time it falls due. */
function slaDetail(i: IncidentView, now = Date.now()): string {
  const sla = slaOf(i, now);
  if (sla.due === undefined) return sla.text;
  const due = new Date(sla.due);
  const sameDay = due.toDateString() === new Date(now).toDateString();
  const at = due.toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', {
    ...(sameDay ? {} : { month: 'numeric', day: 'numeric' }),
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  });
  return `${sla.text} · ${t('slaDue', { at })}`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}
