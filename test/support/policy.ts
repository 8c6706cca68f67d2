import type { RunningTollgate } from './server.js';

/**
 * The stored server-default risk policy as it is now: suites share the database, so one that
 * changes the default puts it back with `restore()` (and tells every instance to reload it).
 */
export async function keepDefaultPolicy(server: RunningTollgate): Promise<{ restore(): Promise<void> }> {
  const prisma = server.tollgate.runtime.db.prisma;
  const row = await prisma.riskPolicy.findUnique({ where: { key: 'default' } });
  const saved = row ? { document: row.document as object, version: row.version } : null;
  return {
    async restore() {
      if (saved) {
        await prisma.riskPolicy.upsert({
          where: { key: 'default' },
          create: { key: 'default', document: saved.document, version: saved.version },
          update: { document: saved.document, version: saved.version },
        });
      } else {
        await prisma.riskPolicy.deleteMany({ where: { key: 'default' } });
      }
      await server.tollgate.runtime.hot.events.publish('policies', 'default');
    },
  };
}
