/**
 * The hub's errors: the catalog (codes, statuses, reasons) is the contract's
 * (protocols/src/errors.ts), so the dashboard can word every code in the user's language.
 */
import { type ErrorDetail, HUB_ERRORS, type HubErrorCode } from '@qianliyan/protocols';

export { HUB_ERRORS, type HubErrorCode } from '@qianliyan/protocols';

export class HubError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: HubErrorCode,
    message?: string,
    /** Which field it concerns and why, for a form to place and word it (sent in the body). */
    readonly detail: ErrorDetail = {},
  ) {
    super(message ?? HUB_ERRORS[code].message);
    this.statusCode = HUB_ERRORS[code].status;
  }
}
