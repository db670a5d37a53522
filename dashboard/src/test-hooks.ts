/**
 * The test build's hook: what browser tests and benchmarks may read that a page does not show
 * (frame times, lag probes, a tile's decoded frames). It exists only in the test build (`npm run
 * build:test`, into dist-test, served by test hubs): the production build defines
 * `__QLY_TEST_HOOKS__` false, the calls to this module are removed as dead code, and a test checks
 * the production bundle holds no trace of it. Tests of what an officer does go through the page.
 */
export function installTestHooks(hooks: Record<string, unknown>): void {
  (window as unknown as { __qlyTest: Record<string, unknown> }).__qlyTest = hooks;
}
