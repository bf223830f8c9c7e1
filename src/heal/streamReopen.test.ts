import { describe, expect, it } from 'vitest';
import { ReopenSchedule, STABLE_STREAM_MS } from './streamReopen.js';

function scheduleAt(budgetMs: number) {
  const clock = { t: 0 };
  return { clock, schedule: new ReopenSchedule({ budgetMs, now: () => clock.t }) };
}

describe('ReopenSchedule', () => {
  it('reopens at once after a stream that worked, then backs off while attempts fail, up to 2 s', () => {
    const { clock, schedule } = scheduleAt(60_000);
    schedule.opened();
    clock.t = 30_000;
    expect(schedule.next()).toBe(0);
    const delays: (number | null)[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(schedule.next());
      clock.t += 100;
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 2000, 2000]);
  });

  it('gives up when attempts have kept failing for the whole budget', () => {
    const { clock, schedule } = scheduleAt(5000);
    expect(schedule.next()).toBe(250);
    clock.t = 4999;
    expect(schedule.next()).not.toBeNull();
    clock.t = 5000;
    expect(schedule.next()).toBeNull();
  });

  it('counts a stream that ends at once as a failure, so an upstream ending every stream is not hammered', () => {
    const { clock, schedule } = scheduleAt(5000);
    schedule.opened();
    clock.t = STABLE_STREAM_MS - 1;
    expect(schedule.next()).toBe(250);
    schedule.opened();
    clock.t += 10;
    expect(schedule.next()).toBe(500);
    clock.t = 6000;
    schedule.opened();
    clock.t += 10;
    expect(schedule.next()).toBeNull();
  });

  it('allows one heal per run of failures, and another after a stream that worked', () => {
    const { clock, schedule } = scheduleAt(5000);
    expect(schedule.mayHeal()).toBe(true);
    schedule.healed();
    expect(schedule.next()).toBe(250);
    expect(schedule.mayHeal()).toBe(false);
    schedule.opened();
    clock.t += STABLE_STREAM_MS;
    expect(schedule.next()).toBe(0);
    expect(schedule.mayHeal()).toBe(true);
  });
});
