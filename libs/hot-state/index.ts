export { openHotState, type HotState, type HotStateOptions, type ReplayStore, type ChallengeStore, type EventBus, type CounterStore } from './hot-state.js';
/** Nest injection token for the opened HotState. */
export const HOT_STATE = Symbol('HotState');
