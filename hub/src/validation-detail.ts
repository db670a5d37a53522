/**
 * What a schema refusal concerns, for the error body: the field (the first failing property of the
 * body or query) and the reason, from the JSON Schema keyword that failed. A form can then say
 * "at most 120 characters" beside the title instead of ajv's English sentence at the top.
 */
import type { ErrorDetail, ErrorReason } from '@qianliyan/protocols';

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
}

const REASON_BY_KEYWORD: Record<string, ErrorReason> = {
  required: 'required',
  maxLength: 'too_long',
  maxItems: 'too_long',
  maxProperties: 'too_long',
  minLength: 'too_short',
  minItems: 'too_short',
  minimum: 'out_of_range',
  maximum: 'out_of_range',
  exclusiveMinimum: 'out_of_range',
  exclusiveMaximum: 'out_of_range',
  additionalProperties: 'unknown_field',
};

export function validationDetail(errors: readonly AjvError[]): ErrorDetail {
  const first = errors[0];
  if (!first) return {};
  const path = first.instancePath.split('/').filter(Boolean);
  // A missing or unknown property is named by the keyword's params, not by the path.
  const named =
    first.keyword === 'required'
      ? first.params.missingProperty
      : first.keyword === 'additionalProperties'
        ? first.params.additionalProperty
        : undefined;
  if (typeof named === 'string') path.push(named);
  const field = path.join('.');
  const reason = REASON_BY_KEYWORD[first.keyword] ?? 'invalid';
  const limit = typeof first.params.limit === 'number' ? first.params.limit : undefined;
  // An empty string under `minLength: 1` is a required field left empty.
  const shortEmpty = reason === 'too_short' && limit === 1;
  return {
    ...(field ? { field } : {}),
    reason: shortEmpty ? 'required' : reason,
    ...(limit !== undefined && !shortEmpty ? { limit } : {}),
  };
}
