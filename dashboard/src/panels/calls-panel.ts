/** Overlay: video calls — ringing, the call's videos, a camera shown in the call. */
import { WATCH } from '@qianliyan/protocols';
import { CallPanel, type CallTarget } from '../components/call-panel.ts';
import { errorMessage, t } from '../i18n.ts';
import type { PanelDef, PanelInstance } from '../shell/panel.ts';

export interface CallsPanel extends PanelInstance {
  calls: CallPanel;
  call(target: CallTarget): void;
}

export const callsPanel: PanelDef = {
  id: 'calls',
  label: 'call',
  roles: WATCH,
  slot: 'overlay',
  mount(el, ctx): CallsPanel {
    el.setAttribute('aria-label', t('call'));
    const channel = ctx.store.calls;
    if (!channel) throw new Error('the live connection is not open');
    const calls = new CallPanel(el, channel, ctx.user, {
      site: (id) => ctx.siteName(id),
      cameras: () =>
        [...ctx.store.devices.values()]
          .filter((d) => d.capabilities.includes('video'))
          .map((d) => ({ key: d.key, name: ctx.deviceLabel(d.key) })),
    });
    return {
      calls,
      call: (target) =>
        void calls
          .start(target)
          .catch((err) =>
            ctx.toast(
              `${t('callFailed')}: ${err instanceof DOMException ? t('callNoCamera') : errorMessage(err)}`,
            ),
          ),
      relabel: () => {
        el.setAttribute('aria-label', t('call'));
        calls.relabel();
      },
      dispose: () => calls.dispose(),
    };
  },
};
