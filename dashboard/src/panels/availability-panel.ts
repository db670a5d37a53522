/** Stage: the availability report (在线率) per village and device kind, with its chart and CSV. */
import { WATCH } from '@qianliyan/protocols';
import { AvailabilityView } from '../components/availability-view.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';

export const availabilityPanel: PanelDef = {
  id: 'availability',
  label: 'modeAvailability',
  roles: WATCH,
  slot: 'stage',
  mount(el, ctx): PanelInstance {
    const view = new AvailabilityView(el, {
      siteName: (id) => ctx.siteName(id),
      sites: () => ctx.store.sites,
    });
    const offSites = ctx.store.onSites(() => view.relabel());
    return {
      activate: (on) => on && view.activate(),
      relabel: () => view.relabel(),
      focus: () => view.focus(),
      dispose: () => offSites(),
    };
  },
};
