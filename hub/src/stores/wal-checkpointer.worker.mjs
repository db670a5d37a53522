// Runs SQLite WAL checkpoints for the time-series store on its own thread and connection, so the
// hub's event loop never copies the WAL back into the database inside a commit (a 10-50 ms stall
// that showed in the live map's latency tail). PASSIVE: it copies what it can and never blocks the
// writer. Plain JavaScript: a worker thread does not get the TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort?.postMessage({ error: String(err) });
  }
}, workerData.intervalMs);
parentPort?.on('message', (message) => {
  if (message === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort?.close();
  }
});
