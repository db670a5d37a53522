/** Stage, administrators only: rules on readings with their 24-hour preview. */
import { ADMINISTER } from '@qianliyan/protocols';
import { AlarmRulesView } from '../components/alarm-rules-view.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';

export const alarmRulesPanel: PanelDef = {
  id: 'alarmRules',
  label: 'modeAlarmRules',
  roles: ADMINISTER,
  slot: 'stage',
  mount(el, ctx): PanelInstance {
    const view = new AlarmRulesView(el, {
      devices: () => ctx.store.devices.values(),
      siteName: (id) => ctx.siteName(id),
      deviceLabel: (key) => ctx.deviceLabel(key),
      sites: () => ctx.store.sites,
      toast: (text) => ctx.toast(text),
    });
    // The selects list the sites and devices in scope: refilled when the snapshot says what they are.
    const offSites = ctx.store.onSites(() => view.relabel());
    return {
      activate: (on) => on && view.activate(),
      relabel: () => view.relabel(),
      focus: () => view.focus(),
      dispose: () => offSites(),
    };
  },
};
