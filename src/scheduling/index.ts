export { DeadlineScheduler, MAX_TIMER_DELAY_MS } from './deadline-scheduler.js';
export type { DeadlineTarget } from './deadline-scheduler.js';
export { ScheduledTask } from './scheduled-task.js';
export { inBatches } from './in-batches.js';
export { EventLoopLag } from './event-loop-lag.js';
