# Tollgate on PostgreSQL and, optionally, Redis; see docker-compose.yml and docs/operations.md.
# The image expects DATABASE_URL (db-deploy refuses to run without it) and should be given
# TOLLGATE_KEY_ENCRYPTION_KEY and TOLLGATE_ADMIN_TOKEN; it writes nothing to its own filesystem.
# One stage: the build needs the dev dependencies (tsc, prisma generate); they are not pruned.
FROM node:22-slim

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .
RUN npm run build

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
USER node
EXPOSE 3000

# Apply pending migrations (a no-op when there are none), then replace the shell with the server
# so that SIGTERM reaches node and shuts it down gracefully. The compiled server runs directly:
# nothing is built at start (as `npm run serve`; `npm start` would check the build first).
CMD ["sh", "-c", "node dist/scripts/db-deploy.js && exec node dist/apps/tollgate/src/main.js"]
