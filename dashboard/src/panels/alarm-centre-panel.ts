/** Stage: the alarm centre (告警中心) — history, filters, search, bulk acknowledge, timelines. */
import { may, WATCH } from '@qianliyan/protocols';
import { AlarmCentre } from '../components/alarm-centre.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';
import type { AlarmsPanel } from './alarms-panel.ts';

export const alarmCentrePanel: PanelDef = {
  id: 'alarmCentre',
  label: 'modeAlarmCentre',
  roles: WATCH,
  slot: 'stage',
  mount(el, ctx): PanelInstance {
    const centre = new AlarmCentre(el, {
      deviceName: (key) => ctx.store.devices.get(key)?.name ?? ctx.store.gateways.get(key)?.id ?? key,
      siteName: (id) => ctx.siteName(id),
      sites: () => ctx.store.sites,
      mayAcknowledge: may(ctx.user.role, 'acknowledgeAlarm'),
      acknowledged: (alarms) => {
        const list = ctx.panel<AlarmsPanel>('alarms')?.alarms;
        for (const a of alarms) list?.upsert(a);
      },
    });
    const off = ctx.store.topics.alarm.on((a) => centre.update(a));
    const offSites = ctx.store.onSites(() => centre.relabel());
    return {
      activate: (on) => on && centre.activate(),
      relabel: () => centre.relabel(),
      focus: () => centre.focus(),
      dispose: () => {
        off();
        offSites();
      },
    };
  },
};
