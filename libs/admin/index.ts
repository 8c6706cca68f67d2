export { AdminTokenGuard, ADMIN_TOKEN } from './admin-token.guard.js';
export { adminValidationPipe, AdminInputError, type FieldProblem } from './validation.js';
export { OpenApiController } from './openapi.controller.js';
