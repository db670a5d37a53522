/**
 * What a device says about itself (manufacturer, firmware) as the contract's `DeviceText` takes it:
 * control and markup characters removed, whitespace runs made one space, at most 64 characters;
 * nothing left (or a placeholder) is "unknown", i.e. undefined. Devices write anything there: NUL
 * padding, "NONE", an empty string, HTML, 300-character build strings.
 */
const MARKUP = new Set(['<', '>', '&', '"', "'"]);

/** Placeholders vendors leave in identity fields instead of saying nothing. */
const PLACEHOLDERS = /^(none|null|undefined|unknown|n\/a|na|-+|0|default|manufacturer|string)$/i;

export const DEVICE_TEXT_MAX = 64;

export function deviceText(raw: string | null | undefined, max = DEVICE_TEXT_MAX): string | undefined {
  if (!raw) return undefined;
  let out = '';
  for (const ch of raw) {
    const code = ch.codePointAt(0) as number;
    if (code < 0x20 || code === 0x7f) out += ' ';
    else if (!MARKUP.has(ch)) out += ch;
  }
  const clean = out.replace(/\s+/g, ' ').trim();
  if (!clean || PLACEHOLDERS.test(clean)) return undefined;
  return [...clean].slice(0, max).join('').trim();
}
