export { StepUpModule } from './step-up.module.js';
export { StepUpChallenges, type StepUpAnswer, type ProvenLevel } from './challenges.js';
