/**
 * Sidebar: the alarms that want an officer (critical pinned), with acknowledge and "acknowledge and
 * open an incident"; the attention they demand — a tone per severity, the count in the title and on
 * the favicon, a desktop notification while the tab is hidden — and the controls for it: mute for
 * ten minutes (with its countdown) and turning desktop notifications on.
 */
import { may, WATCH } from '@qianliyan/protocols';
import { formatCountdown, soundReason } from '../alarm-centre/alarm-display.ts';
import { AlarmAttention, MUTE_MS } from '../alarm-centre/attention.ts';
import { AlarmList } from '../components/alarm-list.ts';
import { t } from '../i18n.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';
import type { IncidentsPanel } from './incidents-panel.ts';

export interface AlarmsPanel extends PanelInstance {
  alarms: AlarmList;
}

export const alarmsPanel: PanelDef = {
  id: 'alarms',
  label: 'alarms',
  roles: WATCH,
  slot: 'sidebar',
  mount(el, ctx): AlarmsPanel {
    el.innerHTML = `<h2><span data-i18n="alarms"></span> <span data-role="alarm-count"></span></h2>
      <div class="alarm-controls">
        <button type="button" class="link" data-role="mute" aria-pressed="false"></button>
        <button type="button" class="link" data-role="notify"></button>
      </div>
      <ul class="alarms" data-role="alarms" aria-live="assertive" aria-relevant="additions"></ul>`;
    const attention = new AlarmAttention();
    const alarms = new AlarmList(
      el.querySelector('[data-role=alarms]') as HTMLElement,
      el.querySelector('[data-role=alarm-count]') as HTMLElement,
      (key) => ctx.store.devices.get(key),
      (key) => ctx.pick(key),
      may(ctx.user.role, 'acknowledgeAlarm'),
      (id) => {
        ctx.toast(t('ackedIncidentOpened', { id }));
        ctx.show('incidents');
        ctx.panel<IncidentsPanel>('incidents')?.open(id);
      },
      (n) => attention.setCount(n),
    );

    const muteButton = el.querySelector('[data-role=mute]') as HTMLButtonElement;
    const notifyButton = el.querySelector('[data-role=notify]') as HTMLButtonElement;
    const showMute = () => {
      const until = attention.mutedUntil;
      muteButton.textContent = until
        ? t('mutedFor', { left: formatCountdown(until - Date.now()) })
        : t('muteTenMinutes');
      muteButton.setAttribute('aria-pressed', String(until > 0));
      muteButton.classList.toggle('muted', until > 0);
    };
    const showNotify = () => {
      const state = attention.notificationState;
      notifyButton.hidden = state === 'unsupported';
      notifyButton.textContent =
        state === 'granted' ? t('notifyOn') : state === 'denied' ? t('notifyBlocked') : t('notifyEnable');
      notifyButton.disabled = state !== 'default';
    };
    muteButton.addEventListener('click', () => {
      if (attention.mutedUntil) attention.unmute();
      else attention.mute(MUTE_MS);
      showMute();
    });
    notifyButton.addEventListener('click', () => {
      void attention.requestNotifications().finally(showNotify);
    });
    const countdown = window.setInterval(showMute, 1000);
    showMute();
    showNotify();

    const off = ctx.store.topics.alarm.on((a) => {
      const reason = soundReason(alarms.get(a.id), a);
      alarms.upsert(a);
      if (a.ackedAt === null) ctx.layer.flash(a.device);
      if (reason) attention.alert(a, reason, alarms.describe(a));
    });
    // Alarms name their devices: drawn again when the devices arrive (or are renamed).
    const offChange = ctx.store.onChange((c) => {
      if (c.snapshot) alarms.render();
    });
    void alarms.load().catch((err) => console.warn('alarms not loaded', err));
    // Back after the socket was away (a network drop, a laptop asleep): what came meanwhile is
    // loaded again, and a new alarm among it is heard like any other.
    let wasDown = false;
    const offStatus = ctx.store.onStatus((connected) => {
      if (!connected) {
        wasDown = true;
        return;
      }
      if (!wasDown) return;
      wasDown = false;
      void alarms
        .load()
        .then((fresh) => {
          for (const a of fresh)
            if (soundReason(undefined, a)) attention.alert(a, 'raised', alarms.describe(a));
        })
        .catch((err) => console.warn('alarms not reloaded', err));
    });
    return {
      relabel: () => {
        alarms.render();
        showMute();
        showNotify();
        attention.refresh();
      },
      focus: () => alarms.focus(),
      dispose: () => {
        off();
        offChange();
        offStatus();
        window.clearInterval(countdown);
        alarms.dispose();
        attention.dispose();
      },
      alarms,
    };
  },
};
