/**
 * The village terminal: a browser on a village PC or tablet, signed in as the village's operator.
 * One large button calls the command room; incoming calls ring; the village's own incidents are
 * listed with the actions the operator may take, and a new one can be reported. (`#map` opens the
 * full command view instead.) A language switch redraws every word here too.
 */
import type { Role } from '@qianliyan/protocols';
import { CallPanel } from '../components/call-panel.ts';
import { IncidentBoard } from '../components/incident-board.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, getLang, onLangChange, setLang, t } from '../i18n.ts';
import type { LiveStore } from '../live-store.ts';
import { linkageSentence, ruleNames, storedPlans } from '../panels/incidents-panel.ts';
import { installTestHooks } from '../test-hooks.ts';

export async function renderTerminalView(
  root: HTMLElement,
  store: LiveStore,
  user: { username: string; role: Role },
  signOut: () => void,
): Promise<() => void> {
  root.innerHTML = `
    <div class="terminal">
      <header class="topbar">
        <div class="brand" lang="zh-CN">千里眼</div>
        <h1><span data-i18n="terminalTitle"></span> · <span data-role="village"></span></h1>
        <span class="spacer"></span>
        <span class="user">${escapeHtml(user.username)}</span>
        <a class="link" href="#map" data-i18n="modeMap"></a>
        <button type="button" class="link" data-role="lang" data-i18n="language"></button>
        <button type="button" class="link" data-role="logout" data-i18n="signOut"></button>
      </header>
      <div class="terminal-actions">
        <button type="button" class="primary" data-role="call-room" data-i18n="callCommandRoom"></button>
        <p class="terminal-notice" data-role="notice" role="alert" hidden></p>
      </div>
      <main data-role="incidents"></main>
      <section data-role="call" data-i18n-label="call"></section>
    </div>`;
  // The village's own part of the tree comes with the live snapshot.
  const villages = () => store.sites.filter((s) => s.level === 'village' || s.level === 'grid');
  const siteName = (id: string) => store.sites.find((s) => s.id === id)?.name ?? id;
  const showVillage = () => {
    (root.querySelector('[data-role=village]') as HTMLElement).textContent = villages()
      .map((s) => s.name)
      .join(t('listSep'));
  };
  const offSites = store.onSites(showVillage);
  showVillage();
  const channel = store.calls;
  if (!channel) throw new Error('not connected');
  const calls = new CallPanel(root.querySelector('[data-role=call]') as HTMLElement, channel, user, {
    site: siteName,
    cameras: () =>
      [...store.devices.values()]
        .filter((d) => d.capabilities.includes('video'))
        .map((d) => ({ key: d.key, name: d.name })),
  });
  const notice = root.querySelector('[data-role=notice]') as HTMLElement;
  let noticeText: () => string = () => '';
  const say = (text: () => string) => {
    noticeText = text;
    notice.hidden = false;
    notice.textContent = text();
  };
  const callRoom = (incident?: number) =>
    void calls
      .start({ commandRoom: true, ...(incident ? { incident } : {}) })
      .catch((err) =>
        say(
          () => `${t('callFailed')}: ${err instanceof DOMException ? t('callNoCamera') : errorMessage(err)}`,
        ),
      );
  const ruleName = ruleNames();
  const board = new IncidentBoard(root.querySelector('[data-role=incidents]') as HTMLElement, {
    role: user.role as Role,
    villages,
    siteName,
    deviceName: (key) => store.devices.get(key)?.name ?? key,
    call: (incident) => callRoom(incident.id),
    plans: storedPlans(store),
    ruleName,
  });
  await board.load().catch((err) => console.warn('incidents not loaded', err));
  const offIncident = store.topics.incident.on((i) => board.upsert(i));
  // The command room's linkage reaches the village: said at the top of the terminal.
  const offLinkage = store.topics.linkage.on(({ plan }) => {
    say(
      () =>
        `${t('linkageNotice')}: ${linkageSentence(plan, ruleName)}${plan.broadcast ? ` · “${plan.broadcast.text}”` : ''}`,
    );
    board.linkage(plan);
    if (plan.incident) board.open(plan.incident);
  });
  const relabel = () => {
    for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]'))
      el.textContent = t(el.dataset.i18n as never);
    for (const el of root.querySelectorAll<HTMLElement>('[data-i18n-label]'))
      el.setAttribute('aria-label', t(el.dataset.i18nLabel as never));
    root.querySelector('[data-role=lang]')?.setAttribute('lang', getLang() === 'zh' ? 'en' : 'zh-CN');
    document.title = t('terminalTitle');
    if (!notice.hidden) notice.textContent = noticeText();
    board.relabel();
    calls.relabel();
  };
  relabel();
  const offLang = onLangChange(relabel);
  root
    .querySelector('[data-role=lang]')
    ?.addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));
  root.querySelector('[data-role=call-room]')?.addEventListener('click', () => callRoom());
  root.querySelector('[data-role=logout]')?.addEventListener('click', signOut);
  if (__QLY_TEST_HOOKS__) installTestHooks({ calls, deviceCount: () => store.devices.size });
  return () => {
    offSites();
    offIncident();
    offLinkage();
    offLang();
    board.dispose();
    calls.dispose();
  };
}
