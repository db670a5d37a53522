/**
 * Open alarms, newest first: what fired, on which device, how often, since when; a click shows the
 * device (and its video for a camera), "acknowledge" closes the alarm for everyone. Loaded once,
 * then kept current from the live channel.
 */
import type { AlarmView, DeviceView } from '@qianliyan/protocols';
import { get, post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, eventLabel, getLang, severityLabel, t } from '../i18n.ts';
import { RovingFocus } from './roving-focus.ts';

export class AlarmList {
  private readonly alarms = new Map<number, AlarmView>();
  /** One tab stop for the list: fifty alarms are not a hundred Tab presses between officer and map. */
  private readonly rover: RovingFocus;

  constructor(
    private readonly root: HTMLElement,
    private readonly countEl: HTMLElement,
    private readonly device: (key: string) => DeviceView | undefined,
    private readonly onSelect: (key: string) => void,
    private readonly mayAcknowledge: boolean,
    /** An incident was made from an alarm (the view opens it). */
    private readonly onIncident?: (id: number) => void,
  ) {
    this.rover = new RovingFocus(root, 'alarm');
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
      if (target.closest('[data-role=to-incident]')) {
        // An incident from this alarm: its device, place and village come with it.
        const alarm = this.alarms.get(id);
        void post('/api/incidents', {
          body: {
            alarm: id,
            title:
              `${this.device(alarm?.device ?? '')?.name ?? alarm?.device ?? ''} · ${eventLabel(alarm?.type ?? '')}`.slice(
                0,
                120,
              ),
            category: categoryOf(alarm?.type ?? ''),
            priority: alarm?.severity === 'critical' ? 'urgent' : 'high',
          },
        })
          .then((incident) => this.onIncident?.(incident.id))
          .catch((err) => this.say(item, errorMessage(err)));
        return;
      }
      if (target.closest('[data-role=ack]')) {
        void post('/api/alarms/:id/ack', { params: { id } })
          .then((a) => this.upsert(a))
          .catch((err) => this.say(item, errorMessage(err)));
        return;
      }
      const alarm = this.alarms.get(id);
      if (alarm) this.onSelect(alarm.device);
    });
  }

  async load(): Promise<void> {
    const { alarms } = await get('/api/alarms', { query: { open: true, limit: 100 } });
    for (const a of alarms) this.alarms.set(a.id, a);
    this.render();
  }

  upsert(alarm: AlarmView): void {
    if (alarm.ackedAt !== null) this.alarms.delete(alarm.id);
    else this.alarms.set(alarm.id, alarm);
    this.render();
  }

  /** Open alarms as shown (tests read this). */
  list(): AlarmView[] {
    return [...this.alarms.values()].sort((a, b) => b.id - a.id);
  }

  /** Focuses the list at its tab stop (a skip link lands here). */
  focus(): void {
    this.rover.refresh();
    this.root.querySelector<HTMLElement>('[data-alarm][tabindex="0"], .empty')?.focus();
  }

  /** A refusal, said on the alarm's own row. */
  private say(item: HTMLElement, text: string): void {
    const el = item.querySelector<HTMLElement>('.alarm-msg');
    if (el) {
      el.textContent = text;
      el.hidden = false;
    }
  }

  render(): void {
    const list = this.list();
    this.countEl.textContent = list.length ? `(${list.length})` : '';
    this.root.setAttribute('aria-label', t('alarms'));
    this.root.innerHTML = list.length
      ? list
          .slice(0, 50)
          .map((a) => {
            const name = this.device(a.device)?.name ?? a.device;
            const time = new Date(a.lastTs).toLocaleTimeString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', {
              hour12: false,
            });
            const what = `${name} · ${eventLabel(a.type)}${a.count > 1 ? ` ×${a.count}` : ''}`;
            return `<li class="alarm sev-${a.severity}" data-alarm="${a.id}" tabindex="-1"
                aria-label="${escapeHtml(`${time} ${what} · ${severityLabel(a.severity)}`)}">
              <span class="alarm-time">${escapeHtml(time)}</span>
              <span class="alarm-what">${escapeHtml(what)}</span>
              ${this.mayAcknowledge ? `<span class="alarm-actions"><button type="button" class="link" data-role="to-incident" tabindex="-1">${t('toIncident')}</button><button type="button" class="link" data-role="ack" tabindex="-1">${t('acknowledge')}</button></span>` : ''}
              <span class="alarm-msg" role="status" hidden></span>
            </li>`;
          })
          .join('')
      : `<li class="empty" tabindex="-1">${t('noAlarms')}</li>`;
    this.rover.refresh();
  }
}

/** The incident category an alarm type suggests. */
function categoryOf(type: string): string {
  if (/fire|smoke/.test(type)) return 'fire';
  if (/flood|water|level/.test(type)) return 'flood';
  if (/intrusion|line_crossing|motion|geofence/.test(type)) return 'intrusion';
  return 'other';
}
