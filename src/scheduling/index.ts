export { DeadlineScheduler } from './deadline-scheduler.js';
export type { DeadlineTarget } from './deadline-scheduler.js';
