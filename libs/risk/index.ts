export * from './core/index.js';
export * from './state/index.js';
export { RiskModule } from './policies/risk.module.js';
export { RiskJudge, type Judgement, type JudgedRequest } from './judge.js';
export {
  BUILTIN_DEFAULT_POLICY,
  RiskPolicies,
  type ClientPolicyView,
  type DefaultPolicyView,
} from './policies/risk-policies.js';
