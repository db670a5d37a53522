/** Sidebar: the open alarms, newest first, with acknowledge and "to incident". */
import { may, WATCH } from '@qianliyan/protocols';
import { AlarmList } from '../components/alarm-list.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';

export interface AlarmsPanel extends PanelInstance {
  alarms: AlarmList;
}

import type { IncidentsPanel } from './incidents-panel.ts';

export const alarmsPanel: PanelDef = {
  id: 'alarms',
  label: 'alarms',
  roles: WATCH,
  slot: 'sidebar',
  mount(el, ctx): AlarmsPanel {
    el.innerHTML = `<h2><span data-i18n="alarms"></span> <span data-role="alarm-count"></span></h2>
      <ul class="alarms" data-role="alarms" aria-live="assertive" aria-relevant="additions"></ul>`;
    const alarms = new AlarmList(
      el.querySelector('[data-role=alarms]') as HTMLElement,
      el.querySelector('[data-role=alarm-count]') as HTMLElement,
      (key) => ctx.store.devices.get(key),
      (key) => ctx.pick(key),
      may(ctx.user.role, 'acknowledgeAlarm'),
      (id) => {
        ctx.show('incidents');
        ctx.panel<IncidentsPanel>('incidents')?.open(id);
      },
    );
    const off = ctx.store.topics.alarm.on((a) => {
      alarms.upsert(a);
      if (a.ackedAt === null) ctx.layer.flash(a.device);
    });
    // Alarms name their devices: drawn again when the devices arrive (or are renamed).
    const offChange = ctx.store.onChange((c) => {
      if (c.snapshot) alarms.render();
    });
    void alarms.load().catch((err) => console.warn('alarms not loaded', err));
    return {
      relabel: () => alarms.render(),
      focus: () => alarms.focus(),
      dispose: () => {
        off();
        offChange();
      },
      alarms,
    };
  },
};
