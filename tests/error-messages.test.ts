/**
 * Every error the hub can answer has a sentence in both languages on the dashboard: the test walks
 * the contract's catalog (codes and reasons), not the dashboard's table, so a code added to the hub
 * without words fails here. Chinese sentences are Chinese, English ones carry no Chinese.
 */
import { ERROR_REASONS, HUB_ERROR_CODES } from '@qianliyan/protocols';
import { describe, expect, it } from 'vitest';
import { CODE_MESSAGES, errorText, FIELD_NAMES, REASON_MESSAGES } from '../dashboard/src/error-messages.ts';

const CJK = /[\u3400-\u9fff]/;

describe('error messages', () => {
  it('every hub error code has a message in Chinese and in English', () => {
    for (const code of HUB_ERROR_CODES) {
      const text = CODE_MESSAGES[code];
      expect(text, code).toBeDefined();
      expect(text.zh, code).toMatch(CJK);
      expect(text.en, code).toMatch(/^[A-Z]/);
      expect(text.en, code).not.toMatch(CJK);
      expect(errorText({ code }, 'zh')).toBe(text.zh);
      expect(errorText({ code }, 'en')).toBe(text.en);
    }
  });

  it('every reason has a message in both languages, naming the field in that language', () => {
    for (const reason of ERROR_REASONS) {
      expect(REASON_MESSAGES[reason], reason).toBeDefined();
      const zh = errorText(
        { code: 'HUB_ERR_VALIDATION', detail: { field: 'title', reason, limit: 120 } },
        'zh',
      );
      const en = errorText(
        { code: 'HUB_ERR_VALIDATION', detail: { field: 'title', reason, limit: 120 } },
        'en',
      );
      expect(zh, reason).toMatch(CJK);
      expect(en, reason).not.toMatch(CJK);
      expect(zh + en, reason).not.toMatch(/\{(field|limit)\}/);
    }
    expect(errorText({ code: 'HUB_ERR_VALIDATION', detail: { field: 'title', reason: 'blank' } }, 'zh')).toBe(
      '事件标题不能只有空格',
    );
    expect(
      errorText(
        { code: 'HUB_ERR_VALIDATION', detail: { field: 'title', reason: 'too_long', limit: 120 } },
        'en',
      ),
    ).toBe('Title: at most 120 characters');
  });

  it('field names exist in both languages; an unknown code reads as an internal error, never as the code', () => {
    for (const [field, text] of Object.entries(FIELD_NAMES)) {
      expect(text.zh, field).toMatch(CJK);
      expect(text.en, field).not.toMatch(CJK);
    }
    expect(errorText({ code: 'HUB_ERR_SOMETHING_NEW' }, 'en')).toBe(CODE_MESSAGES.HUB_ERR_INTERNAL.en);
  });
});
