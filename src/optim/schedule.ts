// Learning-rate schedules, evaluated on the CPU per step (the value goes into Adam's uniform).

/** A learning-rate schedule: constant, step decay per epoch, or cosine over the run. */
export type LrSchedule =
  | { kind: 'constant' }
  /** lr · gamma^floor(epoch / stepSize) (torch.optim.lr_scheduler.StepLR stepped per epoch). */
  | { kind: 'step'; stepSize: number; gamma: number }
  /** Cosine from lr down to minLr (default 0) over all training steps (CosineAnnealingLR). */
  | { kind: 'cosine'; minLr?: number };

/** What a schedule needs to know about the run. */
export interface ScheduleContext {
  /** Steps in one epoch (the step schedule counts epochs). */
  stepsPerEpoch: number;
  /** Steps of the whole run (the cosine schedule's period). */
  totalSteps: number;
}

export function checkSchedule(schedule: LrSchedule): LrSchedule {
  switch (schedule.kind) {
    case 'constant':
      return schedule;
    case 'step':
      if (!Number.isInteger(schedule.stepSize) || schedule.stepSize < 1) {
        throw new Error(
          `lr schedule: stepSize must be an integer >= 1 (epochs), got ${schedule.stepSize}`,
        );
      }
      if (!(schedule.gamma > 0 && schedule.gamma <= 1)) {
        throw new Error(`lr schedule: gamma must be in (0, 1], got ${schedule.gamma}`);
      }
      return schedule;
    case 'cosine':
      if (schedule.minLr !== undefined && !(schedule.minLr >= 0)) {
        throw new Error(`lr schedule: minLr must be >= 0, got ${schedule.minLr}`);
      }
      return schedule;
    default:
      throw new Error(
        `lr schedule: unknown kind ${JSON.stringify((schedule as { kind: unknown }).kind)} (constant, step, cosine)`,
      );
  }
}

/** The learning rate of 0-based step `step`. */
export function learningRateAt(
  schedule: LrSchedule,
  baseLr: number,
  step: number,
  ctx: ScheduleContext,
): number {
  switch (schedule.kind) {
    case 'constant':
      return baseLr;
    case 'step': {
      const epoch = Math.floor(step / Math.max(1, ctx.stepsPerEpoch));
      return baseLr * Math.pow(schedule.gamma, Math.floor(epoch / schedule.stepSize));
    }
    case 'cosine': {
      const minLr = schedule.minLr ?? 0;
      const progress = Math.min(1, step / Math.max(1, ctx.totalSteps));
      return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
    }
  }
}

/** A schedule in a few words, for logs: 'cosine to 0', 'step ×0.1 every 40 epochs'. */
export function describeSchedule(schedule: LrSchedule): string {
  switch (schedule.kind) {
    case 'constant':
      return 'constant';
    case 'step':
      return `step ×${schedule.gamma} every ${schedule.stepSize} epochs`;
    case 'cosine':
      return `cosine to ${schedule.minLr ?? 0}`;
  }
}
