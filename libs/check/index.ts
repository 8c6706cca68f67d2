export { CheckModule } from './check.module.js';
export { CallAssessment, assessmentBody, presentedToken, type Assessment, type CallInput, type PresentedToken } from './call-assessment.js';
export { originalCall, clientIp, type OriginalCall } from './gateway-request.js';
export { CheckEndpoint, type CheckRequest, type GatewayQuestion } from './check-endpoint.js';
export { ExtAuthzServer, checkResponse, type CheckResponseMessage } from './grpc/ext-authz.js';
export { loadExtAuthzServices } from './grpc/protos.js';
export { describedCall } from './gateway-request.js';
export { AuthzenEndpoint, type AuthzenRequest } from './authzen.js';
export { ProtectedResourceMetadata, isProtectedResourceMetadataPath, type MetadataRequest } from './protected-resource-metadata.js';
