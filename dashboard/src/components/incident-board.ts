/**
 * The incident board: incidents in the user's scope with filters, SLA countdowns coloured by urgency
 * (breached red, warned amber), the KPIs of the last 30 days, and the selected incident's detail with
 * its timeline, the actions its state allows, the linkage panel (nearest cameras, a proposed warning,
 * the nearest drone) and a call to its village. Live: incidents arrive on the socket and are updated
 * in place; countdowns tick every second.
 */
import {
  hasRole,
  INCIDENT_PRIORITIES,
  INCIDENT_TRANSITIONS,
  type IncidentAction,
  type IncidentView,
  type LinkagePlan,
  may,
  type Role,
  VILLAGE,
} from '@qianliyan/protocols';
import { get, getToken, post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { getLang, t, tOr } from '../i18n.ts';

const CATEGORIES = ['fire', 'flood', 'intrusion', 'rescue', 'traffic', 'dispute', 'other'] as const;
const DAY = 86_400_000;

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
  /** Opens cameras on the video wall. */
  openCameras?: (keys: string[]) => void;
  onChange?: (incidents: IncidentView[]) => void;
}

export class IncidentBoard {
  private readonly incidents = new Map<number, IncidentView>();
  private selected: number | undefined;
  private plan: LinkagePlan | undefined;
  private filter = { status: 'open', priority: '' };
  private readonly timer: number;
  private kpiTimer = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly options: IncidentBoardOptions,
  ) {
    root.classList.add('incident-board');
    root.innerHTML = `
      <div class="ib-kpis" data-role="kpis" aria-label="${t('kpis')}"></div>
      <div class="ib-body">
        <section class="ib-list-pane">
          <div class="ib-filters">
            <select data-filter="status" aria-label="${t('filterStatus')}">
              <option value="open">${t('incOpen')}</option><option value="">${t('incAll')}</option>
              ${Object.keys(STATUS_LABEL)
                .map(
                  (s) => `<option value="${s}">${t(STATUS_LABEL[s as keyof typeof STATUS_LABEL])}</option>`,
                )
                .join('')}
            </select>
            <select data-filter="priority" aria-label="${t('incPriority')}">
              <option value="">${t('allPriorities')}</option>
              ${INCIDENT_PRIORITIES.map((p) => `<option value="${p}">${t(`prio_${p}` as 'prio_low')}</option>`).join('')}
            </select>
            ${!may(options.role, 'reportIncident') ? '' : `<button data-role="new" class="primary">${t('newIncident')}</button>`}
          </div>
          <form class="ib-new" data-role="new-form" hidden></form>
          <ul class="ib-list" data-role="list" aria-live="polite"></ul>
        </section>
        <section class="ib-detail" data-role="detail"><p class="muted">${t('pickIncident')}</p></section>
      </div>`;
    root.addEventListener('change', (ev) => {
      const el = ev.target as HTMLSelectElement;
      if (el.dataset.filter === 'status' || el.dataset.filter === 'priority') {
        this.filter[el.dataset.filter] = el.value;
        this.renderList();
      }
    });
    root.addEventListener('click', (ev) => void this.onClick(ev));
    root.addEventListener('submit', (ev) => void this.onSubmit(ev));
    root.querySelector('[data-role=list]')?.addEventListener('keydown', (ev) => {
      const e = ev as KeyboardEvent;
      if (e.key !== 'Enter' && e.key !== ' ') return;
      const item = (e.target as HTMLElement).closest<HTMLElement>('[data-id]');
      if (item) {
        e.preventDefault();
        this.open(Number(item.dataset.id));
      }
    });
    this.timer = window.setInterval(() => this.tick(), 1000);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    window.clearTimeout(this.kpiTimer);
  }

  async load(): Promise<void> {
    const list = await get('/api/incidents', { query: { limit: 500 } });
    for (const i of list) this.incidents.set(i.id, i);
    this.renderList();
    this.loadKpis();
  }

  /** A live incident (new or changed). */
  upsert(incident: IncidentView): void {
    this.incidents.set(incident.id, incident);
    this.renderList();
    if (incident.id === this.selected) this.renderDetail();
    window.clearTimeout(this.kpiTimer);
    this.kpiTimer = window.setTimeout(() => this.loadKpis(), 1000);
  }

  /** A linkage plan for the incident on screen (or any, when none is open). */
  linkage(plan: LinkagePlan): void {
    if (plan.incident !== null && plan.incident === this.selected) {
      this.plan = plan;
      this.renderDetail();
    }
  }

  list(): IncidentView[] {
    return [...this.incidents.values()].sort((a, b) => b.id - a.id);
  }

  open(id: number): void {
    this.selected = id;
    this.plan = undefined;
    this.renderList();
    // The timeline comes with the single incident.
    void get('/api/incidents/:id', { params: { id } })
      .then((i) => {
        this.incidents.set(i.id, i);
        this.renderDetail();
      })
      .catch((err) => this.message((err as Error).message));
    this.renderDetail();
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

  private renderList(): void {
    const el = this.root.querySelector('[data-role=list]') as HTMLElement;
    const items = this.visible();
    el.innerHTML =
      items
        .map((i) => {
          const sla = slaOf(i);
          return `<li class="incident urgency-${sla.urgency} prio-${i.priority}${i.id === this.selected ? ' selected' : ''}" data-id="${i.id}" tabindex="0">
            <span class="ib-prio">${t(`prio_${i.priority}` as 'prio_low')}</span>
            <span class="ib-title">#${i.id} ${escapeHtml(i.title)}</span>
            <span class="ib-site">${escapeHtml(this.options.siteName(i.site))}${i.owner !== i.site ? ` → ${escapeHtml(this.options.siteName(i.owner))}` : ''}</span>
            <span class="ib-status">${t(STATUS_LABEL[i.status])}</span>
            <span class="ib-sla" data-role="sla" data-id="${i.id}">${escapeHtml(sla.text)}</span></li>`;
        })
        .join('') || `<li class="empty">${t('noIncidents')}</li>`;
    this.options.onChange?.(this.list());
  }

  private tick(): void {
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-role=sla]')) {
      const i = this.incidents.get(Number(el.dataset.id));
      if (!i) continue;
      const sla = slaOf(i);
      if (el.textContent !== sla.text) el.textContent = sla.text;
      const li = el.closest('li');
      if (li && !li.classList.contains(`urgency-${sla.urgency}`)) {
        li.classList.remove('urgency-ok', 'urgency-warn', 'urgency-breach', 'urgency-done');
        li.classList.add(`urgency-${sla.urgency}`);
      }
    }
  }

  private loadKpis(): void {
    const to = Date.now() + 1000;
    void get('/api/incidents/kpis', { query: { from: to - 30 * DAY, to } })
      .then((rows) => {
        const total = rows.find((r) => r.site === 'total');
        const el = this.root.querySelector('[data-role=kpis]') as HTMLElement;
        const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
        const dur = (ms: number | null) => (ms === null ? '—' : formatDuration(ms));
        const villages = rows.filter((r) => r.site !== 'total');
        const table = villages.length
          ? `<details class="ib-kpi-table"><summary>${t('kpiByVillage')}</summary><table>
              <thead><tr><th>${t('incSite')}</th><th>${t('kpiCreated')}</th><th>${t('kpiAcceptance')}</th><th>${t('kpiClosure')}</th><th>${t('kpiOnTime')}</th><th>${t('kpiMtta')}</th><th>${t('kpiMttr')}</th></tr></thead>
              <tbody>${villages
                .map(
                  (r) =>
                    `<tr data-site="${escapeHtml(r.site)}"><td>${escapeHtml(r.name)}</td><td>${r.created}</td><td>${pct(r.acceptanceRate)}</td><td>${pct(r.closureRate)}</td><td>${pct(r.onTimeRate)}</td><td>${dur(r.meanTimeToAcceptMs)}</td><td>${dur(r.meanTimeToResolveMs)}</td></tr>`,
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
      })
      .catch(() => undefined);
  }

  private renderDetail(): void {
    const el = this.root.querySelector('[data-role=detail]') as HTMLElement;
    const i = this.selected === undefined ? undefined : this.incidents.get(this.selected);
    if (!i) {
      el.innerHTML = `<p class="muted">${t('pickIncident')}</p>`;
      return;
    }
    const acting = may(this.options.role, 'actOnIncident');
    const officer = may(this.options.role, 'linkIncident');
    const actions = (Object.keys(INCIDENT_TRANSITIONS) as IncidentAction[]).filter(
      (a) =>
        (INCIDENT_TRANSITIONS[a].from as readonly string[]).includes(i.status) &&
        // Nothing below the village to return it to.
        !(a === 'return' && i.owner === i.site),
    );
    const sla = slaOf(i);
    const plan = this.plan;
    el.innerHTML = `
      <h2>#${i.id} ${escapeHtml(i.title)}</h2>
      <dl class="meta">
        <dt>${t('incStatus')}</dt><dd data-role="status">${t(STATUS_LABEL[i.status])}</dd>
        <dt>${t('incPriority')}</dt><dd>${t(`prio_${i.priority}` as 'prio_low')}</dd>
        <dt>${t('incCategory')}</dt><dd>${escapeHtml(tOr(`cat_${i.category}`, i.category))}</dd>
        <dt>${t('incSite')}</dt><dd>${escapeHtml(this.options.siteName(i.site))}</dd>
        <dt>${t('incOwner')}</dt><dd data-role="owner">${escapeHtml(this.options.siteName(i.owner))}</dd>
        <dt>${t('incSla')}</dt><dd class="urgency-${sla.urgency}">${escapeHtml(sla.text)}</dd>
        ${i.assignee ? `<dt>${t('incAssignee')}</dt><dd>${escapeHtml(i.assignee)}</dd>` : ''}
        ${i.devices.length ? `<dt>${t('devices')}</dt><dd>${i.devices.map((d) => escapeHtml(this.options.deviceName(d))).join('、')}</dd>` : ''}
        ${i.feedback ? `<dt>${t('incFeedback')}</dt><dd>${escapeHtml(i.feedback)}</dd>` : ''}
      </dl>
      ${i.description ? `<p>${escapeHtml(i.description)}</p>` : ''}
      ${
        acting && actions.length
          ? `<form class="ib-actions" data-role="transition" data-id="${i.id}">
          <input name="note" placeholder="${t('incNote')}" aria-label="${t('incNote')}" maxlength="2000">
          ${actions.includes('assign') ? `<input name="assignee" placeholder="${t('incAssignee')}" aria-label="${t('incAssignee')}" maxlength="64">` : ''}
          ${actions.includes('close') ? `<input name="feedback" placeholder="${t('incFeedback')}" aria-label="${t('incFeedback')}" maxlength="2000">` : ''}
          <div class="ib-buttons">${actions.map((a) => `<button type="submit" name="action" value="${a}" data-action="${a}">${t(`act_${a}` as 'act_accept')}</button>`).join('')}</div>
        </form>`
          : ''
      }
      <div class="ib-tools">
        ${officer && i.location ? `<button data-role="link" data-id="${i.id}">${t('linkNow')}</button>` : ''}
        ${may(this.options.role, 'placeCall') ? `<button data-role="call" data-id="${i.id}">${hasRole(this.options.role, VILLAGE) ? t('callCommandRoom') : t('callVillage')}</button>` : ''}
        ${
          acting
            ? i.devices
                .filter((d) => this.options.isCamera?.(d))
                .map(
                  (d) =>
                    `<button data-role="attach" data-device="${escapeHtml(d)}">${t('attachSnapshot')} · ${escapeHtml(this.options.deviceName(d))}</button>`,
                )
                .join('')
            : ''
        }
      </div>
      ${plan ? this.planHtml(plan, officer) : ''}
      ${i.attachments.length ? `<div class="ib-attachments">${i.attachments.map((_a, n) => `<button class="link" data-role="attachment" data-n="${n}">${t('snapshot')} ${n + 1}</button>`).join(' ')}<div data-role="attachment-view"></div></div>` : ''}
      <h3>${t('timeline')}</h3>
      <ol class="ib-timeline">${(i.events ?? [])
        .map(
          (e) =>
            `<li><time>${new Date(e.ts).toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-GB')}</time> <b>${escapeHtml(e.actor)}</b> ${escapeHtml(tOr(`ev_${e.action}`, e.action))}${e.to ? ` → ${tOr(STATUS_LABEL[e.to as keyof typeof STATUS_LABEL] ?? '', e.to)}` : ''}${e.note ? ` · ${escapeHtml(e.note)}` : ''}</li>`,
        )
        .join('')}</ol>
      <p class="ib-msg" data-role="msg" role="status"></p>`;
  }

  private planHtml(plan: LinkagePlan, officer: boolean): string {
    return `<div class="ib-plan" data-role="plan">
      <h3>${t('linkage')}</h3>
      <p>${t('linkCameras')}: ${plan.cameras.map((c) => `${escapeHtml(this.options.deviceName(c.key))} (${c.distanceM} m${c.inView ? '' : ` · ${t('mustTurn')}`})`).join('、') || '—'}</p>
      <p>${t('linkSpeakers')}: ${plan.speakers.map((s) => `${escapeHtml(this.options.deviceName(s.key))} (${s.distanceM} m)`).join('、') || '—'}
        ${plan.broadcast?.mode === 'proposed' && officer ? `<button data-role="plan-broadcast">${t('playWarning')}</button>` : plan.broadcast?.mode === 'started' ? ` · ${t('warningStarted')}` : ''}</p>
      <p>${t('linkDrone')}: ${plan.drone ? `${escapeHtml(this.options.deviceName(plan.drone.key))} (${plan.drone.distanceM} m) ${may(this.options.role, 'dispatchDrone') ? `<button data-role="plan-drone">${t('sendDrone')}</button>` : ''}` : '—'}</p>
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
      if (role === 'new') return this.showNewForm();
      if (role === 'pick' && this.options.pickPoint) {
        ev.preventDefault();
        const at = await this.options.pickPoint();
        const form = this.root.querySelector<HTMLFormElement>('[data-role=new-form]');
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
      if (role === 'link') {
        this.plan = await post('/api/incidents/:id/link', { params: { id: i.id } });
        this.options.openCameras?.(this.plan.cameras.map((c) => c.key));
        this.renderDetail();
      } else if (role === 'call') this.options.call(i);
      else if (role === 'plan-broadcast' && this.plan?.broadcast) {
        await post('/api/incidents/:id/link/broadcast', {
          params: { id: i.id },
          body: { speakers: this.plan.speakers.map((s) => s.key), text: this.plan.broadcast.text },
        });
        this.plan = { ...this.plan, broadcast: { mode: 'started', id: '', text: this.plan.broadcast.text } };
        this.renderDetail();
      } else if (role === 'plan-drone' && this.plan?.drone) {
        await post('/api/incidents/:id/link/drone', {
          params: { id: i.id },
          body: { drone: this.plan.drone.key },
        });
        this.message(t('droneSent'));
      }
    } catch (err) {
      this.message((err as Error).message);
    }
  }

  private showNewForm(): void {
    const form = this.root.querySelector<HTMLFormElement>('[data-role=new-form]');
    if (!form) return;
    form.hidden = !form.hidden;
    if (form.hidden) return;
    const villages = this.options.villages();
    form.innerHTML = `
      <input name="title" required maxlength="120" placeholder="${t('incTitle')}" aria-label="${t('incTitle')}">
      <select name="category" aria-label="${t('incCategory')}">${CATEGORIES.map((c) => `<option value="${c}">${t(`cat_${c}` as 'cat_fire')}</option>`).join('')}</select>
      <select name="priority" aria-label="${t('incPriority')}">${INCIDENT_PRIORITIES.map((p) => `<option value="${p}"${p === 'normal' ? ' selected' : ''}>${t(`prio_${p}` as 'prio_low')}</option>`).join('')}</select>
      <select name="site" aria-label="${t('incSite')}">${villages.map((v) => `<option value="${escapeHtml(v.id)}">${escapeHtml(v.name)}</option>`).join('')}</select>
      <input name="lat" placeholder="${t('lat')}" aria-label="${t('lat')}" inputmode="decimal">
      <input name="lon" placeholder="${t('lon')}" aria-label="${t('lon')}" inputmode="decimal">
      ${this.options.pickPoint ? `<button type="button" data-role="pick">${t('pickOnMap')}</button>` : ''}
      <textarea name="description" maxlength="4000" placeholder="${t('incDescription')}" aria-label="${t('incDescription')}"></textarea>
      <button type="submit" class="primary" data-role="create">${t('report')}</button>`;
  }

  private async onSubmit(ev: Event): Promise<void> {
    ev.preventDefault();
    const form = ev.target as HTMLFormElement;
    const data = new FormData(form);
    try {
      if (form.dataset.role === 'new-form') {
        const lat = Number(data.get('lat'));
        const lon = Number(data.get('lon'));
        const created = await post('/api/incidents', {
          body: {
            title: String(data.get('title')),
            category: String(data.get('category')),
            priority: String(data.get('priority')),
            site: String(data.get('site')),
            ...(data.get('lat') && data.get('lon') && Number.isFinite(lat) && Number.isFinite(lon)
              ? { location: { lat, lon } }
              : {}),
            ...(data.get('description') ? { description: String(data.get('description')) } : {}),
          },
        });
        form.hidden = true;
        this.upsert(created);
        this.open(created.id);
      } else if (form.dataset.role === 'transition') {
        const action = (ev as SubmitEvent).submitter?.getAttribute('value');
        if (!action) return;
        const body: Record<string, string> = { action };
        for (const k of ['note', 'assignee', 'feedback']) {
          const v = String(data.get(k) ?? '').trim();
          if (v) body[k] = v;
        }
        const updated = await post('/api/incidents/:id/transitions', {
          params: { id: String(form.dataset.id) },
          body,
        });
        this.upsert(updated);
      }
    } catch (err) {
      this.message((err as Error).message);
    }
  }
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
): { text: string; urgency: 'ok' | 'warn' | 'breach' | 'done' } {
  if (i.status === 'closed' || i.status === 'resolved') return { text: t('slaDone'), urgency: 'done' };
  const waitingAccept = i.accept.metAt === null;
  const timer = waitingAccept ? i.accept : i.resolve;
  const label = waitingAccept ? t('slaAccept') : t('slaResolve');
  const left = timer.due - now;
  if (left <= 0 || timer.breachedAt !== null)
    return { text: `${label} ${t('slaOverdue')} ${formatDuration(-left)}`, urgency: 'breach' };
  return { text: `${label} ${formatDuration(left)}`, urgency: timer.warnedAt !== null ? 'warn' : 'ok' };
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}
