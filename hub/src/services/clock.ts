/**
 * The alarm centre's clock: wall time plus an offset a test can move (`advance`), so re-notify,
 * escalation, absence rules, quiet hours and the availability report are tested in minutes of
 * simulated time instead of real ones. Production never moves it.
 */
export class AlarmClock {
  private offsetMs = 0;

  now = (): number => Date.now() + this.offsetMs;

  /** Moves the clock forward (tests only). */
  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** Sets the clock to `ts` from now on (tests only). */
  set(ts: number): void {
    this.offsetMs = ts - Date.now();
  }
}
