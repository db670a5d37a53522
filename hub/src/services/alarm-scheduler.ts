/**
 * Every timer of the alarm centre in one place: re-notification and escalation of unacknowledged
 * alarms, device health's start-up grace, rules on readings that fire on time passing (a duration,
 * absence), notification retries and held (quiet-hours) deliveries, pruning. One `tick(now)` runs
 * them all in order, each in its own try/catch (a failing task is counted and logged, the others
 * run). Kept together so a cluster can run the tick under one lease: the work it does must happen
 * once per cluster, not once per hub.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { HubMetrics } from './metrics.ts';
import { ThrottledLog } from './throttled-log.ts';

export interface ScheduledTask {
  name: string;
  run(now: number): void;
}

export class AlarmScheduler {
  private timer: NodeJS.Timeout | undefined;
  private readonly tasks: ScheduledTask[] = [];
  private readonly failures: ThrottledLog;

  constructor(
    private readonly clock: () => number,
    private readonly metrics: HubMetrics,
    log: FastifyBaseLogger,
  ) {
    this.failures = new ThrottledLog(log, 1000);
  }

  add(task: ScheduledTask): void {
    this.tasks.push(task);
  }

  /**
   * Runs the tasks every `intervalMs` while `mayRun` says so: in a cluster only the hub holding the
   * scheduler lease re-notifies, escalates and retries (once in the cluster, not once per hub).
   */
  start(intervalMs: number, mayRun: () => boolean = () => true): void {
    this.timer = setInterval(() => {
      if (mayRun()) this.tick();
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  tick(now = this.clock()): void {
    for (const task of this.tasks) {
      try {
        task.run(now);
      } catch (err) {
        this.metrics.alarmTaskErrors.inc({ task: task.name });
        this.failures.error(task.name, { err, task: task.name }, 'alarm scheduler task failed');
      }
    }
  }
}
