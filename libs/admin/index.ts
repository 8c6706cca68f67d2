export { AdminTokenCheck, AdminTokenGuard, ADMIN_TOKEN } from './admin-token.guard.js';
export { Actor, type AdminActor, adminActor, sessionReference } from './admin-actor.js';
export {
  ADMIN_SESSIONS,
  AdminSessions,
  type AdminSession,
  CSRF_HEADER,
  SECURE_SESSION_COOKIE,
  SESSION_COOKIE,
  sameSecret,
  sessionCookie,
} from './admin-sessions.js';
export { adminValidationPipe, AdminInputError, type FieldProblem, singleQueryValues } from './validation.js';
export { OpenApiController } from './openapi.controller.js';
