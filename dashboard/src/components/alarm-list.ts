/**
 * The alarms that still want an officer: critical ones pinned above the rest (an intrusion never
 * drowns in motion noise), each with its device, what fired, how often (×N, a flapping device's
 * count), a health alarm's outage so far or its length once the device came back, and whether it
 * cleared while nobody acknowledged it. "Acknowledge" closes it for everyone; "acknowledge and open
 * an incident" does both in one step. A click shows the device (and its video for a camera).
 * Loaded once, then kept current from the live channel.
 */
import type { AlarmView, DeviceView } from '@qianliyan/protocols';
import {
  alarmNotes,
  alarmTitle,
  formatDuration,
  isPinned,
  listOrder,
  stateLabel,
  wantsOfficer,
} from '../alarm-centre/alarm-display.ts';
import { get, post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, getLang, severityLabel, t } from '../i18n.ts';
import { RovingFocus } from './roving-focus.ts';

export class AlarmList {
  private readonly alarms = new Map<number, AlarmView>();
  /** One tab stop for the list: fifty alarms are not a hundred Tab presses between officer and map. */
  private readonly rover: RovingFocus;
  /** Outage durations tick on without redrawing the list (focus stays where it is). */
  private readonly ticker: number;

  constructor(
    private readonly root: HTMLElement,
    private readonly countEl: HTMLElement,
    private readonly device: (key: string) => DeviceView | undefined,
    private readonly onSelect: (key: string) => void,
    private readonly mayAcknowledge: boolean,
    /** An incident was made from an alarm (the view opens it). */
    private readonly onIncident?: (id: number) => void,
    /** The list changed: how many alarms want an officer. */
    private readonly onCount?: (n: number) => void,
  ) {
    this.rover = new RovingFocus(root, 'alarm');
    this.ticker = window.setInterval(() => this.tick(), 1000);
    root.addEventListener('keydown', (ev) => {
      const item = (ev.target as HTMLElement).closest<HTMLElement>('[data-alarm]');
      if (!item || ev.target !== item || (ev.key !== 'Enter' && ev.key !== ' ')) return;
      ev.preventDefault();
      const alarm = this.alarms.get(Number(item.dataset.alarm));
      if (alarm) this.onSelect(alarm.device);
    });
    root.addEventListener('click', (ev) => {
      const target = ev.target as HTMLElement;
      const item = target.closest<HTMLElement>('[data-alarm]');
      if (!item) return;
      const id = Number(item.dataset.alarm);
      const alarm = this.alarms.get(id);
      if (target.closest('[data-role=ack-incident]')) {
        if (alarm) this.toIncident(item, alarm);
        return;
      }
      if (target.closest('[data-role=ack]')) {
        void post('/api/alarms/:id/ack', { params: { id } })
          .then((a) => this.upsert(a))
          .catch((err) => this.say(item, refusal(err)));
        return;
      }
      if (alarm) this.onSelect(alarm.device);
    });
  }

  /**
   * Loads the open alarms (at the start, and again after the live socket was away: what was raised
   * or acknowledged meanwhile never came over it). Returns those this list did not have.
   */
  async load(): Promise<AlarmView[]> {
    const { alarms } = await get('/api/alarms', { query: { open: true, limit: 200 } });
    const fresh = alarms.filter((a) => !this.alarms.has(a.id));
    this.alarms.clear();
    for (const a of alarms) this.alarms.set(a.id, a);
    this.render();
    return fresh;
  }

  /** The alarm as this list last had it (undefined: not open here). */
  get(id: number): AlarmView | undefined {
    return this.alarms.get(id);
  }

  upsert(alarm: AlarmView): void {
    if (!wantsOfficer(alarm)) this.alarms.delete(alarm.id);
    else this.alarms.set(alarm.id, alarm);
    this.render();
  }

  /** Alarms as shown, top to bottom. */
  list(): AlarmView[] {
    return listOrder(this.alarms.values());
  }

  /** Focuses the list at its tab stop (a skip link lands here). */
  focus(): void {
    this.rover.refresh();
    this.root.querySelector<HTMLElement>('[data-alarm][tabindex="0"], .empty')?.focus();
  }

  /** A device's name and what fired on it (a notification's text). */
  describe(a: AlarmView): string {
    return `${this.device(a.device)?.name ?? a.device} · ${alarmTitle(a)}`;
  }

  dispose(): void {
    window.clearInterval(this.ticker);
  }

  /** Acknowledge and open an incident in one step (the hub does both, or neither). */
  private toIncident(item: HTMLElement, alarm: AlarmView): void {
    void post('/api/alarms/:id/incident', {
      params: { id: alarm.id },
      body: {
        title: this.describe(alarm).slice(0, 120),
        category: categoryOf(alarm.type),
        priority: alarm.severity === 'critical' ? 'urgent' : 'high',
      },
    })
      .then(({ alarm: acked, incident }) => {
        this.upsert(acked);
        this.onIncident?.(incident.id);
      })
      .catch((err) => this.say(item, refusal(err)));
  }

  /** A refusal, said on the alarm's own row. */
  private say(item: HTMLElement, text: string): void {
    const el = item.querySelector<HTMLElement>('.alarm-msg');
    if (el) {
      el.textContent = text;
      el.hidden = false;
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-outage-since]'))
      el.textContent = t('outageFor', { d: formatDuration(now - Number(el.dataset.outageSince)) });
  }

  render(): void {
    const list = this.list();
    this.onCount?.(list.length);
    this.countEl.textContent = list.length ? `(${list.length})` : '';
    this.root.setAttribute('aria-label', t('alarms'));
    const now = Date.now();
    const locale = getLang() === 'zh' ? 'zh-CN' : 'en-GB';
    this.root.innerHTML = list.length
      ? list
          .slice(0, 60)
          .map((a) => {
            const time = new Date(a.lastTs).toLocaleTimeString(locale, { hour12: false });
            const what = this.describe(a);
            const notes = alarmNotes(a, now);
            const running = a.source !== 'event' && a.clearedAt === null;
            const pinned = isPinned(a);
            const state = a.state === 'cleared_unacknowledged' ? stateLabel(a) : '';
            const label = [
              time,
              what,
              ...notes,
              severityLabel(a.severity),
              state,
              pinned ? t('alarmPinned') : '',
            ]
              .filter(Boolean)
              .join(' · ');
            return `<li class="alarm sev-${a.severity}${pinned ? ' pinned' : ''} state-${a.state}" data-alarm="${a.id}"
                data-severity="${a.severity}" data-state="${a.state}" tabindex="-1" aria-label="${escapeHtml(label)}">
              <span class="alarm-time">${escapeHtml(time)}</span>
              <span class="alarm-what">${escapeHtml(what)}</span>
              ${notes
                .map((n, i) =>
                  running && i === notes.length - 1
                    ? `<span class="alarm-note" data-outage-since="${a.ts}">${escapeHtml(n)}</span>`
                    : `<span class="alarm-note">${escapeHtml(n)}</span>`,
                )
                .join('')}
              ${state ? `<span class="alarm-state">${escapeHtml(state)}</span>` : ''}
              ${this.mayAcknowledge ? `<span class="alarm-actions"><button type="button" class="link" data-role="ack-incident" tabindex="-1">${t('ackAndIncident')}</button><button type="button" class="link" data-role="ack" tabindex="-1">${t('acknowledge')}</button></span>` : ''}
              <span class="alarm-msg" role="status" hidden></span>
            </li>`;
          })
          .join('')
      : `<li class="empty" tabindex="-1">${t('noAlarms')}</li>`;
    this.rover.refresh();
  }
}

/** A refusal in words: "already acknowledged" for the alarm's conflict (another officer was first). */
function refusal(err: unknown): string {
  return (err as { code?: string }).code === 'HUB_ERR_CONFLICT' ? t('alarmAlreadyAcked') : errorMessage(err);
}

/** The incident category an alarm type suggests. */
export function categoryOf(type: string): 'fire' | 'flood' | 'intrusion' | 'other' {
  if (/fire|smoke/.test(type)) return 'fire';
  if (/flood|water|level/.test(type)) return 'flood';
  if (/intrusion|line_crossing|motion|geofence/.test(type)) return 'intrusion';
  return 'other';
}
