export { auditRecord, type AuditActor, type AuditEntry, AuditModule } from './audit.js';
export {
  DecisionLog,
  DecisionNotRecorded,
  DECISION_LOG_OPTIONS,
  DECISION_LOG_DEFAULTS,
  DECISION_KINDS,
  DECISION_OUTCOMES,
  type DecisionEntry,
  type DecisionReason,
  type DecisionKind,
  type DecisionOutcome,
  type DecisionDurability,
  type DecisionLogOptions,
  type DecisionFilter,
  type StoredDecision,
} from './decision-log.js';
export { DecisionFeed, type FedDecision, type FeedListener } from './decision-feed.js';
