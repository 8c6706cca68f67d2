export { CheckModule } from './check.module.js';
export { CallAssessment, assessmentBody, type Assessment, type CallInput } from './call-assessment.js';
export { originalCall, clientIp, type OriginalCall } from './gateway-request.js';
