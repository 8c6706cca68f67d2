export { BODY_LIMITS, MAX_JSON_DEPTH } from './limits.js';
export { BodyTooLarge, readBody } from './read-body.js';
export { jsonDepth } from './json-depth.js';
export { unstorableString } from './unstorable-string.js';
export { parseForm, type Form } from './form.js';
export { refuse, type FieldProblem } from './refusal.js';
export { requestBodies } from './request-bodies.js';
export { requestTarget } from './request-target.js';
export { isJson, mediaType } from './media-type.js';
