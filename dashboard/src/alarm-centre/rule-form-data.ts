/**
 * The alarm rule form's values ⇄ a rule body, as pure functions (unit-tested): what the officer
 * typed (seconds and minutes, as people say them) becomes the contract's body (milliseconds), and
 * what is wrong is named by the body's field path — the same path the hub names in a refusal — so
 * one message slot beside each control serves both. Bounds are the contract's (protocols/alarms.ts).
 */
import type { DeviceKind, ErrorReason, ReadingRule, ReadingRuleBody } from '@qianliyan/protocols';

export type RuleType = 'threshold' | 'rate' | 'absence';

export interface RuleFormValues {
  name: string;
  enabled: boolean;
  type: RuleType;
  /** The reading of a threshold or rate rule. */
  field: string;
  /** The reading of an absence rule ('' = any reading). */
  absenceField: string;
  op: 'above' | 'below';
  value: string;
  hysteresis: string;
  /** Threshold: how long it must hold, seconds. */
  forS: string;
  change: string;
  windowS: string;
  /** Absence: how long without a reading, minutes. */
  absenceMin: string;
  site: string;
  kind: string;
  device: string;
  severity: 'warning' | 'alarm' | 'critical';
  speakText: string;
  speakCount: string;
}

export interface FieldProblem {
  /** The body's field path (`condition.value`), as the hub names it. */
  field: string;
  reason: ErrorReason;
  limit?: number;
}

export const EMPTY_RULE_FORM: RuleFormValues = {
  name: '',
  enabled: true,
  type: 'threshold',
  field: 'water_level',
  absenceField: '',
  op: 'above',
  value: '',
  hysteresis: '0',
  forS: '0',
  change: '',
  windowS: '60',
  absenceMin: '10',
  site: '',
  kind: '',
  device: '',
  severity: 'alarm',
  speakText: '',
  speakCount: '3',
};

/** The form control where a problem with a body field is shown. */
export function controlOf(field: string, type: RuleType): string {
  const path = field.replace(/^rule\./, '');
  if (type === 'absence' && path === 'condition.forMs') return 'absence.forMs';
  if (type === 'absence' && path === 'condition.field') return 'absence.field';
  if (path.startsWith('condition.') || path.startsWith('scope.') || path.startsWith('action.speak.'))
    return path;
  return path.split('.')[0] as string;
}

/** Reads the form into a rule body, or says what is wrong with which field. */
export function ruleFromForm(v: RuleFormValues): { body: ReadingRuleBody } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const number = (field: string, text: string, check?: (n: number) => FieldProblem | null): number => {
    const trimmed = text.trim();
    if (trimmed === '') {
      problems.push({ field, reason: 'required' });
      return 0;
    }
    const n = Number(trimmed);
    if (!Number.isFinite(n)) {
      problems.push({ field, reason: 'invalid' });
      return 0;
    }
    const p = check?.(n);
    if (p) problems.push(p);
    return n;
  };
  const within = (field: string, lo: number, hi: number) => (n: number) =>
    n < lo || n > hi ? { field, reason: 'out_of_range' as const } : null;

  const name = v.name.trim();
  if (v.name === '') problems.push({ field: 'name', reason: 'required' });
  else if (name === '') problems.push({ field: 'name', reason: 'blank' });
  else if (name.length > 120) problems.push({ field: 'name', reason: 'too_long', limit: 120 });

  let condition: ReadingRuleBody['condition'];
  if (v.type === 'threshold') {
    const value = number('condition.value', v.value);
    const hysteresis = number(
      'condition.hysteresis',
      v.hysteresis || '0',
      within('condition.hysteresis', 0, 1e9),
    );
    const forS = number('condition.forMs', v.forS || '0', within('condition.forMs', 0, 86_400));
    condition = {
      type: 'threshold',
      field: v.field,
      op: v.op,
      value,
      ...(hysteresis > 0 ? { hysteresis } : {}),
      ...(forS > 0 ? { forMs: Math.round(forS * 1000) } : {}),
    };
  } else if (v.type === 'rate') {
    const change = number('condition.change', v.change, (n) =>
      n === 0 ? { field: 'condition.change', reason: 'out_of_range' } : null,
    );
    const windowS = number('condition.windowMs', v.windowS, within('condition.windowMs', 1, 86_400));
    condition = { type: 'rate', field: v.field, change, windowMs: Math.round(windowS * 1000) };
  } else {
    const minutes = number('condition.forMs', v.absenceMin, within('condition.forMs', 10 / 60, 7 * 1440));
    condition = {
      type: 'absence',
      ...(v.absenceField ? { field: v.absenceField } : {}),
      forMs: Math.round(minutes * 60_000),
    };
  }

  const text = v.speakText.trim();
  let action: ReadingRuleBody['action'];
  if (v.speakText !== '' && text === '') problems.push({ field: 'action.speak.text', reason: 'blank' });
  else if (text.length > 500) problems.push({ field: 'action.speak.text', reason: 'too_long', limit: 500 });
  else if (text) {
    const count = number('action.speak.count', v.speakCount || '3', within('action.speak.count', 1, 20));
    action = { speak: { text, count: Math.round(count), maxDistanceM: 2000 } };
  }

  if (problems.length > 0) return { problems };
  return {
    body: {
      name,
      enabled: v.enabled,
      scope: {
        ...(v.site ? { site: v.site } : {}),
        ...(v.kind ? { kind: v.kind as DeviceKind } : {}),
        ...(v.device ? { device: v.device } : {}),
      },
      condition,
      severity: v.severity,
      ...(action ? { action } : {}),
    },
  };
}

/** A stored rule back into the form (to edit it). */
export function formFromRule(rule: ReadingRule): RuleFormValues {
  const c = rule.condition;
  return {
    ...EMPTY_RULE_FORM,
    name: rule.name,
    enabled: rule.enabled,
    type: c.type,
    field: c.type === 'absence' ? EMPTY_RULE_FORM.field : c.field,
    absenceField: c.type === 'absence' ? (c.field ?? '') : '',
    op: c.type === 'threshold' ? c.op : 'above',
    value: c.type === 'threshold' ? String(c.value) : '',
    hysteresis: c.type === 'threshold' ? String(c.hysteresis ?? 0) : '0',
    forS: c.type === 'threshold' ? String((c.forMs ?? 0) / 1000) : '0',
    change: c.type === 'rate' ? String(c.change) : '',
    windowS: c.type === 'rate' ? String(c.windowMs / 1000) : EMPTY_RULE_FORM.windowS,
    absenceMin: c.type === 'absence' ? String(c.forMs / 60_000) : EMPTY_RULE_FORM.absenceMin,
    site: rule.scope.site ?? '',
    kind: rule.scope.kind ?? '',
    device: rule.scope.device ?? '',
    severity: rule.severity,
    speakText: rule.action?.speak.text ?? '',
    speakCount: String(rule.action?.speak.count ?? 3),
  };
}
