export { ConsoleModule } from './console.module.js';
export { CONSOLE_CSP } from './console-assets.js';
