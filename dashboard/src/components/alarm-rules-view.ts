/**
 * Rules on readings (告警规则), for administrators: the rules with what each watches, and a form to
 * create or edit one — a threshold with hysteresis and a duration, a rate of change, or no reading
 * for a while; its scope (an area and its subtree, a device kind, one device); its severity; an
 * optional text to speak on the nearest loudspeakers — with a preview over the last 24 hours of
 * stored readings ("would have fired 3 times"). Mistakes are said beside their field, in the
 * officer's language, whether the form or the hub found them.
 */
import {
  ALARM_SEVERITIES,
  DEVICE_KINDS,
  type DeviceView,
  type ErrorDetail,
  type ReadingRule,
  type RulePreview,
} from '@qianliyan/protocols';
import { formatDuration } from '../alarm-centre/alarm-display.ts';
import {
  controlOf,
  EMPTY_RULE_FORM,
  type FieldProblem,
  formFromRule,
  type RuleFormValues,
  type RuleType,
  ruleFromForm,
} from '../alarm-centre/rule-form-data.ts';
import { del, get, post, put } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, fieldLabel, fieldName, getLang, severityLabel, t } from '../i18n.ts';
import { clearFieldErrors, errorSlot, showFieldError } from './form-feedback.ts';

/** Readings a rule is usually about, beside those the devices in view report. */
const COMMON_FIELDS = ['water_level', 'rainfall', 'temperature', 'humidity', 'pm25', 'battery', 'voltage'];

export interface RulesHost {
  devices(): Iterable<DeviceView>;
  siteName(id: string): string;
  deviceLabel(key: string): string;
  sites(): Array<{ id: string; name: string; level: string }>;
  toast(text: string): void;
}

export class AlarmRulesView {
  private rules: ReadingRule[] = [];
  private editing: number | null = null;
  private loaded = false;
  private confirmDelete: number | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: RulesHost,
  ) {
    root.classList.add('alarm-rules');
    root.innerHTML = `
      <section class="rl-list">
        <h2 data-i18n="rlTitle"></h2>
        <button type="button" data-role="new" data-i18n="rlNew"></button>
        <ul data-role="rules"></ul>
      </section>
      <form class="rl-form" data-role="form" novalidate>
        <h3 data-role="form-title"></h3>
        <label><span data-i18n="rlName"></span><input name="name" maxlength="200" autocomplete="off" /></label>
        ${errorSlot('name')}
        <label class="rl-inline"><input type="checkbox" name="enabled" /> <span data-i18n="rlEnabled"></span></label>
        <fieldset>
          <legend data-i18n="rlCondition"></legend>
          <label><span data-i18n="rlCondition"></span><select name="type"></select></label>
          <div data-group="threshold rate">
            <label><span data-i18n="rlField"></span><select name="condition.field"></select></label>
            ${errorSlot('condition.field')}
          </div>
          <div data-group="threshold">
            <div class="rl-pair"><select name="op" data-i18n-label="rlOpLabel"></select>
              <label><span data-i18n="rlValue"></span><input name="condition.value" inputmode="decimal" /></label></div>
            ${errorSlot('condition.value')}
            <label><span data-i18n="rlHysteresis"></span><input name="condition.hysteresis" inputmode="decimal" /></label>
            ${errorSlot('condition.hysteresis')}
            <label><span data-i18n="rlForS"></span><input name="condition.forMs" inputmode="numeric" /></label>
            ${errorSlot('condition.forMs')}
          </div>
          <div data-group="rate">
            <label><span data-i18n="rlChange"></span><input name="condition.change" inputmode="decimal" /></label>
            ${errorSlot('condition.change')}
            <label><span data-i18n="rlWindowS"></span><input name="condition.windowMs" inputmode="numeric" /></label>
            ${errorSlot('condition.windowMs')}
          </div>
          <div data-group="absence">
            <label><span data-i18n="rlField"></span><select name="absence.field"></select></label>
            ${errorSlot('absence.field')}
            <label><span data-i18n="rlAbsenceMin"></span><input name="absence.forMs" inputmode="decimal" /></label>
            ${errorSlot('absence.forMs')}
          </div>
        </fieldset>
        <fieldset>
          <legend data-i18n="rlScope"></legend>
          <label><span data-i18n="rlScopeSite"></span><select name="scope.site"></select></label>
          ${errorSlot('scope.site')}
          <label><span data-i18n="rlScopeKind"></span><select name="scope.kind"></select></label>
          <label><span data-i18n="rlScopeDevice"></span><select name="scope.device"></select></label>
          ${errorSlot('scope.device')}
        </fieldset>
        <label><span data-i18n="rlSeverity"></span><select name="severity"></select></label>
        ${errorSlot('severity')}
        <label><span data-i18n="rlSpeak"></span><textarea name="action.speak.text" rows="2"></textarea></label>
        ${errorSlot('action.speak.text')}
        <label><span data-i18n="rlSpeakCount"></span><input name="action.speak.count" inputmode="numeric" /></label>
        ${errorSlot('action.speak.count')}
        ${errorSlot('*')}
        <div class="rl-buttons">
          <button type="button" data-role="preview" data-i18n="rlPreview"></button>
          <button type="submit" data-role="save" data-i18n="rlSave"></button>
          <button type="button" data-role="cancel" data-i18n="rlCancel"></button>
        </div>
        <div class="rl-preview" data-role="preview-result" role="status" aria-live="polite"></div>
      </form>`;
    const form = this.form;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.save();
    });
    form.querySelector('[name=type]')?.addEventListener('change', () => this.showGroups());
    root.querySelector('[data-role=preview]')?.addEventListener('click', () => void this.preview());
    root.querySelector('[data-role=cancel]')?.addEventListener('click', () => this.edit(null));
    root.querySelector('[data-role=new]')?.addEventListener('click', () => {
      this.edit(null);
      (form.elements.namedItem('name') as HTMLInputElement).focus();
    });
    root.querySelector('[data-role=rules]')?.addEventListener('click', (ev) => {
      const target = ev.target as HTMLElement;
      const id = Number(target.closest<HTMLElement>('[data-rule]')?.dataset.rule);
      if (!id) return;
      if (target.closest('[data-role=edit]')) {
        this.edit(id);
        (form.elements.namedItem('name') as HTMLInputElement).focus();
      } else if (target.closest('[data-role=delete]')) void this.remove(id);
    });
    this.fill(EMPTY_RULE_FORM);
    this.relabel();
  }

  activate(): void {
    if (!this.loaded) void this.load();
  }

  focus(): void {
    this.root.querySelector<HTMLElement>('[data-role=new]')?.focus();
  }

  relabel(): void {
    const values = this.values();
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-i18n]'))
      el.textContent = t(el.dataset.i18n as Parameters<typeof t>[0]);
    for (const el of this.root.querySelectorAll<HTMLElement>('[data-i18n-label]'))
      el.setAttribute('aria-label', t(el.dataset.i18nLabel as Parameters<typeof t>[0]));
    this.options();
    this.fill(values);
    this.renderRules();
    this.formTitle();
  }

  private get form(): HTMLFormElement {
    return this.root.querySelector('[data-role=form]') as HTMLFormElement;
  }

  private control<T extends HTMLElement = HTMLInputElement>(name: string): T {
    return this.form.elements.namedItem(name) as unknown as T;
  }

  private async load(): Promise<void> {
    try {
      this.rules = await get('/api/alarm-rules');
      this.loaded = true;
      this.renderRules();
    } catch (err) {
      showFieldError(this.form, undefined, errorMessage(err));
    }
  }

  /** The select options, in the current language (the devices and sites as the page knows them). */
  private options(): void {
    const fill = (name: string, options: Array<[string, string]>) => {
      const select = this.control<HTMLSelectElement>(name);
      select.innerHTML = options
        .map(([v, label]) => `<option value="${escapeHtml(v)}">${escapeHtml(label)}</option>`)
        .join('');
    };
    const devices = [...this.host.devices()];
    const fields = new Set(COMMON_FIELDS);
    for (const d of devices)
      if (d.kind === 'sensor')
        for (const [k, v] of Object.entries(d.values)) if (typeof v === 'number') fields.add(k);
    const units = (field: string) => devices.find((d) => d.units?.[field])?.units;
    const fieldOptions = [...fields].map((f) => [f, fieldLabel(f, units(f))] as [string, string]);
    fill(
      'type',
      (['threshold', 'rate', 'absence'] as const).map((ty) => [ty, t(`rlType_${ty}`)]),
    );
    fill('condition.field', fieldOptions);
    fill('absence.field', [['', t('rlAnyField')], ...fieldOptions]);
    fill('op', [
      ['above', t('rlOp_above')],
      ['below', t('rlOp_below')],
    ]);
    fill('scope.site', [
      ['', t('rlEverywhere')],
      ...this.host
        .sites()
        .filter((s) => s.level !== 'grid')
        .map((s) => [s.id, s.name] as [string, string]),
    ]);
    fill('scope.kind', [
      ['', t('rlAnyKind')],
      ...DEVICE_KINDS.map((k) => [k, t(`kind_${k}`)] as [string, string]),
    ]);
    fill('scope.device', [
      ['', t('rlAnyDevice')],
      ...devices
        .map((d) => [d.key, this.host.deviceLabel(d.key)] as [string, string])
        .sort((a, b) => a[1].localeCompare(b[1], 'zh-CN', { numeric: true })),
    ]);
    fill(
      'severity',
      [...ALARM_SEVERITIES].reverse().map((s) => [s, severityLabel(s)] as [string, string]),
    );
  }

  private values(): RuleFormValues {
    const v = (name: string) => this.control<HTMLInputElement>(name)?.value ?? '';
    return {
      name: v('name'),
      enabled: this.control<HTMLInputElement>('enabled').checked,
      type: (v('type') || 'threshold') as RuleType,
      field: v('condition.field'),
      absenceField: v('absence.field'),
      op: v('op') === 'below' ? 'below' : 'above',
      value: v('condition.value'),
      hysteresis: v('condition.hysteresis'),
      forS: v('condition.forMs'),
      change: v('condition.change'),
      windowS: v('condition.windowMs'),
      absenceMin: v('absence.forMs'),
      site: v('scope.site'),
      kind: v('scope.kind'),
      device: v('scope.device'),
      severity: (v('severity') || 'alarm') as RuleFormValues['severity'],
      speakText: v('action.speak.text'),
      speakCount: v('action.speak.count'),
    };
  }

  private fill(v: RuleFormValues): void {
    const set = (name: string, value: string) => {
      const el = this.control<HTMLInputElement>(name);
      if (el) el.value = value;
    };
    set('name', v.name);
    this.control<HTMLInputElement>('enabled').checked = v.enabled;
    set('type', v.type);
    set('condition.field', v.field);
    set('absence.field', v.absenceField);
    set('op', v.op);
    set('condition.value', v.value);
    set('condition.hysteresis', v.hysteresis);
    set('condition.forMs', v.forS);
    set('condition.change', v.change);
    set('condition.windowMs', v.windowS);
    set('absence.forMs', v.absenceMin);
    set('scope.site', v.site);
    set('scope.kind', v.kind);
    set('scope.device', v.device);
    set('severity', v.severity);
    set('action.speak.text', v.speakText);
    set('action.speak.count', v.speakCount);
    this.showGroups();
  }

  /** Only the chosen condition's fields are shown (and sent). */
  private showGroups(): void {
    const type = this.control<HTMLSelectElement>('type').value || 'threshold';
    for (const g of this.root.querySelectorAll<HTMLElement>('[data-group]'))
      g.hidden = !(g.dataset.group as string).split(' ').includes(type);
  }

  private formTitle(): void {
    const title = this.root.querySelector('[data-role=form-title]') as HTMLElement;
    title.textContent = this.editing === null ? t('rlNew') : t('rlEditing', { id: this.editing });
  }

  private edit(id: number | null): void {
    this.editing = id;
    const rule = id === null ? undefined : this.rules.find((r) => r.id === id);
    clearFieldErrors(this.form);
    (this.root.querySelector('[data-role=preview-result]') as HTMLElement).textContent = '';
    this.fill(rule ? formFromRule(rule) : EMPTY_RULE_FORM);
    this.formTitle();
  }

  /** Reads the form; shows each problem beside its field; undefined when there are any. */
  private body() {
    clearFieldErrors(this.form);
    const values = this.values();
    const read = ruleFromForm(values);
    if ('problems' in read) {
      for (const p of read.problems) this.problem(p, values.type);
      return undefined;
    }
    return read.body;
  }

  private problem(p: FieldProblem, type: RuleType): void {
    const detail: ErrorDetail = { field: p.field.replace(/^rule\./, ''), reason: p.reason };
    if (p.limit !== undefined) detail.limit = p.limit;
    const slot = controlOf(p.field, type);
    const known = this.form.querySelector(`[data-error-for="${slot}"]`) ? slot : undefined;
    showFieldError(this.form, known, errorMessage({ code: 'HUB_ERR_VALIDATION', detail }));
  }

  /** A refusal from the hub: beside the field it names (in the rule body or the preview's). */
  private refused(err: unknown): void {
    const detail = (err as { detail?: ErrorDetail }).detail ?? {};
    const type = this.values().type;
    const slot = detail.field ? controlOf(detail.field, type) : undefined;
    const known = slot && this.form.querySelector(`[data-error-for="${slot}"]`) ? slot : undefined;
    const e = err as { code?: string; detail?: ErrorDetail };
    const worded =
      detail.field && e.code
        ? errorMessage({ code: e.code, detail: { ...detail, field: detail.field.replace(/^rule\./, '') } })
        : errorMessage(err);
    showFieldError(this.form, known, worded);
  }

  private async preview(): Promise<void> {
    const out = this.root.querySelector('[data-role=preview-result]') as HTMLElement;
    out.textContent = '';
    const body = this.body();
    if (!body) return;
    try {
      this.showPreview(await post('/api/alarm-rules/preview', { body: { rule: body, hours: 24 } }));
    } catch (err) {
      this.refused(err);
    }
  }

  private showPreview(p: RulePreview): void {
    const out = this.root.querySelector('[data-role=preview-result]') as HTMLElement;
    const locale = getLang() === 'zh' ? 'zh-CN' : 'en-GB';
    out.innerHTML = `<p data-role="fires" data-fires="${p.fires}">${escapeHtml(
      t('rlPreviewResult', { n: p.fires, devices: p.devices }),
    )}</p><ul>${p.alarms
      .slice(0, 10)
      .map(
        (a) =>
          `<li>${escapeHtml(
            t('rlPreviewAt', {
              at: new Date(a.ts).toLocaleString(locale, { hour12: false }),
              device: this.host.deviceLabel(a.device),
              value: a.value === null ? '—' : String(Math.round(a.value * 1000) / 1000),
            }),
          )}</li>`,
      )
      .join('')}</ul>`;
  }

  private async save(): Promise<void> {
    const body = this.body();
    if (!body) return;
    try {
      const rule =
        this.editing === null
          ? await post('/api/alarm-rules', { body })
          : await put('/api/alarm-rules/:id', { params: { id: this.editing }, body });
      const i = this.rules.findIndex((r) => r.id === rule.id);
      if (i >= 0) this.rules[i] = rule;
      else this.rules.push(rule);
      this.host.toast(t('rlSaved'));
      this.edit(null);
      this.renderRules();
    } catch (err) {
      this.refused(err);
    }
  }

  private async remove(id: number): Promise<void> {
    // Two steps: the first press asks, the second deletes (no modal dialog to trap the keyboard).
    if (this.confirmDelete !== id) {
      this.confirmDelete = id;
      this.renderRules();
      this.root.querySelector<HTMLElement>(`[data-rule="${id}"] [data-role=delete]`)?.focus();
      return;
    }
    this.confirmDelete = null;
    try {
      await del('/api/alarm-rules/:id', { params: { id } });
      this.rules = this.rules.filter((r) => r.id !== id);
      if (this.editing === id) this.edit(null);
      this.host.toast(t('rlDeleted'));
    } catch (err) {
      this.host.toast(errorMessage(err));
    }
    this.renderRules();
  }

  /** What a rule watches, in words. */
  private summary(rule: ReadingRule): string {
    const c = rule.condition;
    if (c.type === 'threshold')
      return t('rlSummary_threshold', {
        field: fieldName(c.field),
        op: t(`rlOp_${c.op}`),
        value: c.value,
        hyst: c.hysteresis ?? 0,
        for: formatDuration(c.forMs ?? 0),
      });
    if (c.type === 'rate')
      return t('rlSummary_rate', {
        field: fieldName(c.field),
        change: c.change,
        window: formatDuration(c.windowMs),
      });
    return t('rlSummary_absence', {
      field: c.field ? fieldName(c.field) : t('rlAnyField'),
      for: formatDuration(c.forMs),
    });
  }

  private renderRules(): void {
    const list = this.root.querySelector('[data-role=rules]') as HTMLElement;
    if (this.loaded && this.rules.length === 0) {
      list.innerHTML = `<li class="muted">${escapeHtml(t('rlNone'))}</li>`;
      return;
    }
    list.innerHTML = this.rules
      .map((r) => {
        const scope = [
          r.scope.site ? this.host.siteName(r.scope.site) : t('rlEverywhere'),
          ...(r.scope.kind ? [t(`kind_${r.scope.kind}`)] : []),
          ...(r.scope.device ? [this.host.deviceLabel(r.scope.device)] : []),
        ].join(' · ');
        const asking = this.confirmDelete === r.id;
        return `<li class="rl-rule" data-severity="${r.severity}" data-rule="${r.id}">
          <strong>${escapeHtml(r.name)}</strong>${r.enabled ? '' : ` <span class="muted">(${escapeHtml(t('rlDisabled'))})</span>`}
          <span class="rl-what">${escapeHtml(`${severityLabel(r.severity)} · ${this.summary(r)} · ${scope}${r.action ? ` · ${t('rlSpeaks')}` : ''}`)}</span>
          <span class="rl-actions">
            <button type="button" class="link" data-role="edit">${escapeHtml(t('rlEdit'))}</button>
            <button type="button" class="link${asking ? ' danger' : ''}" data-role="delete">${escapeHtml(
              asking ? t('rlDeleteConfirm', { name: r.name }) : t('rlDelete'),
            )}</button>
          </span>
        </li>`;
      })
      .join('');
  }
}
