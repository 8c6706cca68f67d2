export { openDatabase, type Database } from './database.js';
export { applyMigrations, migrationStatus, type MigrationStatus } from './migrations.js';
export { DependencyUnavailable, isDependencyUnavailable } from './unavailable.js';
export { likeLiteral } from './like-pattern.js';
export type { PrismaClient } from './generated/client.js';
export { Prisma } from './generated/client.js';
/** Nest injection token for the opened Database. */
export const DATABASE = Symbol('Database');
