/**
 * What a form tells the officer while typing and after sending: a character count beside a limited
 * field (no silent `maxlength` cut — 10,000 pasted characters are shown as too many, not quietly
 * dropped), and a message beside the field a refusal concerns, in the user's language, announced to
 * screen readers (`aria-invalid` + `aria-describedby` on the field, `role=alert` on the message).
 */
import { errorMessage, t } from '../i18n.ts';

/** The message slot of a field: `<p data-error-for="title">` inside the form. */
function slot(form: HTMLElement, field: string): HTMLElement | null {
  return form.querySelector<HTMLElement>(`[data-error-for="${field}"]`);
}

function control(form: HTMLElement, field: string): HTMLElement | null {
  return form.querySelector<HTMLElement>(`[name="${field}"]`);
}

/** Shows `text` beside `field` (or in the form's general slot `data-error-for="*"`). */
export function showFieldError(form: HTMLElement, field: string | undefined, text: string): void {
  const target = (field ? slot(form, field) : null) ?? slot(form, '*');
  if (!target) return;
  target.textContent = text;
  target.hidden = false;
  const input = field ? control(form, field) : null;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    if (target.id) input.setAttribute('aria-describedby', target.id);
  }
}

export function clearFieldErrors(form: HTMLElement): void {
  for (const el of form.querySelectorAll<HTMLElement>('[data-error-for]')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** A refusal from the hub, placed by its `field` and worded by its code and reason. */
export function showRequestError(form: HTMLElement, err: unknown): void {
  const field = (err as { detail?: { field?: string } }).detail?.field?.split('.')[0];
  showFieldError(form, field && slot(form, field) ? field : undefined, errorMessage(err));
}

/** The markup of a field's message slot (ids keep `aria-describedby` pointing at it). */
let slots = 0;
export function errorSlot(field: string): string {
  slots += 1;
  return `<p class="field-error" role="alert" id="err-${field}-${slots}" data-error-for="${field}" hidden></p>`;
}

/** The markup of a length counter for a field limited to `max` characters. */
export function counterSlot(field: string, max: number): string {
  return `<span class="field-count" data-count-for="${field}" data-max="${max}" aria-live="polite"></span>`;
}

/** Keeps every counter of `form` current while typing; over the limit it turns red and says so. */
export function watchCounters(form: HTMLElement): void {
  const update = (counter: HTMLElement) => {
    const field = counter.dataset.countFor as string;
    const input = control(form, field) as HTMLInputElement | HTMLTextAreaElement | null;
    const max = Number(counter.dataset.max);
    const n = [...(input?.value ?? '')].length;
    counter.textContent = `${n} / ${max}`;
    counter.classList.toggle('over', n > max);
    if (n > max) counter.textContent = t('tooLongBy', { n, max });
  };
  for (const c of form.querySelectorAll<HTMLElement>('[data-count-for]')) update(c);
  form.addEventListener('input', (ev) => {
    const name = (ev.target as HTMLInputElement).name;
    const counter = form.querySelector<HTMLElement>(`[data-count-for="${name}"]`);
    if (counter) update(counter);
  });
}

/**
 * Checks the form's limited and required fields before sending: a blank required field or one over
 * its limit gets its message beside it; returns whether the form may be sent.
 */
export function checkFields(form: HTMLElement, required: readonly string[]): boolean {
  clearFieldErrors(form);
  let ok = true;
  for (const field of required) {
    const input = control(form, field) as HTMLInputElement | null;
    if (input && !input.value.trim()) {
      showFieldError(
        form,
        field,
        errorMessage({
          code: 'HUB_ERR_VALIDATION',
          detail: { field, reason: input.value ? 'blank' : 'required' },
        }),
      );
      ok = false;
    }
  }
  for (const counter of form.querySelectorAll<HTMLElement>('[data-count-for]')) {
    const field = counter.dataset.countFor as string;
    const input = control(form, field) as HTMLInputElement | null;
    const max = Number(counter.dataset.max);
    if (input && [...input.value].length > max) {
      showFieldError(
        form,
        field,
        errorMessage({ code: 'HUB_ERR_VALIDATION', detail: { field, reason: 'too_long', limit: max } }),
      );
      ok = false;
    }
  }
  return ok;
}
