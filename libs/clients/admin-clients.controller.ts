import { Body, Controller, Delete, Get, Header, HttpCode, Param, Patch, Post, Query, UseGuards, UsePipes } from '@nestjs/common';
import { Actor, type AdminActor, AdminInputError, AdminTokenGuard, adminValidationPipe, singleQueryValues } from '#admin';
import { DecisionLog } from '#audit';
import { CreateClientDto, UpdateClientDto } from './client-dto.js';
import { clientView } from './client-record.js';
import { ClientRegistry } from './client-registry.js';

/** The window of `decisions_last_hour` in the list. */
const LAST_HOUR_MS = 60 * 60 * 1000;
const MAX_SEARCH = 200;

@Controller('admin/clients')
@UseGuards(AdminTokenGuard)
@UsePipes(adminValidationPipe('invalid_client_metadata'))
export class AdminClientsController {
  constructor(
    private readonly registry: ClientRegistry,
    private readonly decisions: DecisionLog,
  ) {}

  @Post()
  @Header('Cache-Control', 'no-store') // carries the client_secret (RFC 7591 §3.2.1, RFC 6749 §5.1)
  async create(@Body() body: CreateClientDto, @Actor() actor: AdminActor) {
    const { client, secret } = await this.registry.create(body, actor);
    // The secret is shown once, here; only its hash is stored (RFC 7591 §3.2.1).
    return { ...clientView(client), ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}) };
  }

  /**
   * A page of clients in client id order; `q` keeps those whose name or id contains it (any case).
   * Each with its activity from the decision log: `last_seen` (its newest decision) and
   * `decisions_last_hour`, read for the whole page in one statement.
   */
  @Get()
  async list(@Query() query: Record<string, unknown>) {
    const { limit, cursor, q } = singleQueryValues(query, ['limit', 'cursor', 'q'] as const);
    if (q !== undefined && q.length > MAX_SEARCH) throw new AdminInputError([{ field: 'q', message: `must be at most ${MAX_SEARCH} characters` }]);
    const take = Math.min(Math.max(Number(limit) || 50, 1), 200);
    const clients = await this.registry.list(take, cursor || undefined, q || undefined);
    const activity = await this.decisions.activity(clients.map((c) => c.clientId), new Date(Date.now() - LAST_HOUR_MS));
    return {
      clients: clients.map((c) => {
        const a = activity.get(c.clientId);
        return { ...clientView(c), last_seen: a?.lastSeen?.toISOString() ?? null, decisions_last_hour: a?.since ?? 0 };
      }),
      next_cursor: clients.length === take ? clients[clients.length - 1]!.clientId : null,
    };
  }

  @Get(':client_id')
  async get(@Param('client_id') clientId: string) {
    return clientView(await this.registry.get(clientId));
  }

  @Patch(':client_id')
  @Header('Cache-Control', 'no-store') // may carry a rotated client_secret
  async update(@Param('client_id') clientId: string, @Body() body: UpdateClientDto, @Actor() actor: AdminActor) {
    const { client, secret } = await this.registry.update(clientId, body, actor);
    return { ...clientView(client), ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}) };
  }

  @Delete(':client_id')
  @HttpCode(204)
  async remove(@Param('client_id') clientId: string, @Actor() actor: AdminActor) {
    await this.registry.remove(clientId, actor);
  }
}
