export { auditRecord, type AuditEntry, AuditModule } from './audit.js';
