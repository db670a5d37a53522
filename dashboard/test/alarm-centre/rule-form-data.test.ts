/** The alarm rule form ⇄ the rule body: units, bounds, and problems named by their body field. */
import { type ReadingRule, ReadingRuleBody } from '@qianliyan/protocols';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import {
  controlOf,
  EMPTY_RULE_FORM,
  formFromRule,
  ruleFromForm,
} from '../../src/alarm-centre/rule-form-data.ts';

describe('the rule form', () => {
  it('reads a threshold rule in seconds into the contract’s body (milliseconds), valid by its schema', () => {
    const read = ruleFromForm({
      ...EMPTY_RULE_FORM,
      name: ' 东山水位超警戒 ',
      value: '3.2',
      hysteresis: '0.2',
      forS: '60',
      site: 'dongshan',
      kind: 'sensor',
      speakText: '河道水位过高',
      speakCount: '2',
    });
    expect(read).toEqual({
      body: {
        name: '东山水位超警戒',
        enabled: true,
        scope: { site: 'dongshan', kind: 'sensor' },
        condition: {
          type: 'threshold',
          field: 'water_level',
          op: 'above',
          value: 3.2,
          hysteresis: 0.2,
          forMs: 60_000,
        },
        severity: 'alarm',
        action: { speak: { text: '河道水位过高', count: 2, maxDistanceM: 2000 } },
      },
    });
    expect(Value.Check(ReadingRuleBody, (read as { body: unknown }).body)).toBe(true);
  });

  it('names each problem by the body field the hub would name', () => {
    expect(ruleFromForm({ ...EMPTY_RULE_FORM })).toEqual({
      problems: [
        { field: 'name', reason: 'required' },
        { field: 'condition.value', reason: 'required' },
      ],
    });
    expect(ruleFromForm({ ...EMPTY_RULE_FORM, name: '  ', value: 'abc' })).toEqual({
      problems: [
        { field: 'name', reason: 'blank' },
        { field: 'condition.value', reason: 'invalid' },
      ],
    });
    const rate = ruleFromForm({ ...EMPTY_RULE_FORM, name: 'r', type: 'rate', change: '0', windowS: '0' });
    expect(rate).toEqual({
      problems: [
        { field: 'condition.change', reason: 'out_of_range' },
        { field: 'condition.windowMs', reason: 'out_of_range' },
      ],
    });
    // Absence of at least 10 s (the contract's minimum), typed in minutes.
    expect(ruleFromForm({ ...EMPTY_RULE_FORM, name: 'a', type: 'absence', absenceMin: '0.1' })).toEqual({
      problems: [{ field: 'condition.forMs', reason: 'out_of_range' }],
    });
    expect(ruleFromForm({ ...EMPTY_RULE_FORM, name: 'a', value: '1', speakText: 'x'.repeat(501) })).toEqual({
      problems: [{ field: 'action.speak.text', reason: 'too_long', limit: 500 }],
    });
  });

  it('places a refusal beside the control that holds the field', () => {
    expect(controlOf('condition.forMs', 'threshold')).toBe('condition.forMs');
    expect(controlOf('condition.forMs', 'absence')).toBe('absence.forMs');
    expect(controlOf('rule.scope.site', 'threshold')).toBe('scope.site');
    expect(controlOf('name', 'rate')).toBe('name');
  });

  it('round-trips a stored rule through the form', () => {
    for (const condition of [
      { type: 'threshold', field: 'rainfall', op: 'below', value: 1.5, hysteresis: 0.5, forMs: 90_000 },
      { type: 'rate', field: 'water_level', change: -0.4, windowMs: 600_000 },
      { type: 'absence', forMs: 1_800_000 },
    ] as const) {
      const rule = {
        id: 7,
        name: '规则',
        enabled: false,
        scope: { device: 'gw.wl' },
        condition,
        severity: 'critical',
        createdBy: 'admin',
        createdAt: 1,
        updatedAt: 2,
      } as ReadingRule;
      const read = ruleFromForm(formFromRule(rule));
      expect(read).toEqual({
        body: { name: '规则', enabled: false, scope: { device: 'gw.wl' }, condition, severity: 'critical' },
      });
    }
  });
});
