/** Set by vite.config.ts: true only in the test build (`vite build --mode test`). */
declare const __QLY_TEST_HOOKS__: boolean;
