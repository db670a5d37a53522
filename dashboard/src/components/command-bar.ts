/**
 * The command section of the device panel: the actions the device advertises (`cmd.<action>`) that
 * the signed-in role may send (`commandButtons`, from the command policy in protocols), and the state of the last command (sent / ok / error / timed out).
 * Commands go out with `wait: false`; the result comes back on the live channel. Harmful actions
 * ask for a second, explicit click before they are sent with `confirm: true`.
 */
import type { CommandView, DeviceView, Role } from '@qianliyan/protocols';
import { post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, t } from '../i18n.ts';
import { type CommandButton as Button, commandButtons } from './command-buttons.ts';

export class CommandBar {
  private device: DeviceView | undefined;
  private pendingConfirm: Button | undefined;
  private lastId: string | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly role: Role,
  ) {
    root.addEventListener('click', (ev) => {
      const el = (ev.target as HTMLElement).closest<HTMLElement>('[data-cmd]');
      if (!el) return;
      const index = Number(el.dataset.cmd);
      if (el.dataset.role === 'confirm' && this.pendingConfirm) void this.send(this.pendingConfirm, true);
      else if (el.dataset.role === 'cancel') this.setConfirm(undefined);
      else {
        const button = this.buttons()[index];
        if (!button) return;
        if (button.confirm) this.setConfirm(button);
        else void this.send(button, false);
      }
    });
  }

  show(device: DeviceView): void {
    const changed =
      this.device?.key !== device.key || this.device.capabilities.join() !== device.capabilities.join();
    this.device = device;
    if (!changed) return;
    this.pendingConfirm = undefined;
    this.lastId = undefined;
    this.render();
  }

  /** A command event from the live channel. */
  onCommand(c: CommandView): void {
    if (c.id === this.lastId) this.showStatus(c);
  }

  private buttons(): Button[] {
    return this.device ? commandButtons(this.role, this.device) : [];
  }

  private render(): void {
    const buttons = this.buttons();
    if (buttons.length === 0) {
      this.root.innerHTML = '';
      return;
    }
    this.root.innerHTML = `
      <h3>${t('commands')}</h3>
      <div class="cmd-buttons">${buttons
        .map(
          (b, i) => `<button type="button" data-cmd="${i}" data-action="${b.action}">${t(b.label)}</button>`,
        )
        .join('')}</div>
      <div class="cmd-confirm" data-role="confirm-row" hidden></div>
      <p class="cmd-status" data-role="cmd-status" role="status" aria-live="polite"></p>`;
  }

  private setConfirm(button: Button | undefined): void {
    this.pendingConfirm = button;
    const row = this.root.querySelector<HTMLElement>('[data-role=confirm-row]');
    if (!row) return;
    row.hidden = !button;
    row.innerHTML = button
      ? `<span>${t('confirmHarm', { action: t(button.label) })}</span>
         <button type="button" class="danger" data-cmd="0" data-role="confirm">${t('confirm')}</button>
         <button type="button" data-cmd="0" data-role="cancel">${t('cancel')}</button>`
      : '';
  }

  private async send(button: Button, confirmed: boolean): Promise<void> {
    const d = this.device;
    if (!d) return;
    this.setConfirm(undefined);
    this.setStatus('sent', t('cmdSent', { action: t(button.label) }));
    try {
      const view = await post('/api/devices/:key/commands', {
        params: { key: d.key },
        body: {
          action: button.action,
          ...(button.params ? { params: button.params } : {}),
          ...(confirmed ? { confirm: true } : {}),
          wait: false,
        },
      });
      this.lastId = view.id;
      if (view.status !== 'sent') this.showStatus(view);
    } catch (err) {
      this.setStatus('error', t('cmdRefused', { message: errorMessage(err) }));
    }
  }

  private showStatus(c: CommandView): void {
    if (c.status === 'ok') this.setStatus('ok', t('cmdOk', { ms: c.durationMs ?? 0 }));
    else if (c.status === 'timeout') this.setStatus('timeout', t('cmdTimeout'));
    else if (c.status === 'error')
      this.setStatus('error', t('cmdFailed', { message: c.error?.message ?? '' }));
  }

  private setStatus(state: string, text: string): void {
    const el = this.root.querySelector<HTMLElement>('[data-role=cmd-status]');
    if (!el) return;
    el.dataset.state = state;
    el.innerHTML = escapeHtml(text);
  }
}
