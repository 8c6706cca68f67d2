import { Body, Controller, Delete, Get, Header, HttpCode, Param, Patch, Post, Query, UseGuards, UsePipes } from '@nestjs/common';
import { AdminTokenGuard, adminValidationPipe, singleQueryValues } from '#admin';
import { CreateClientDto, UpdateClientDto } from './client-dto.js';
import { clientView } from './client-record.js';
import { ClientRegistry } from './client-registry.js';

const ACTOR = 'admin-token';

@Controller('admin/clients')
@UseGuards(AdminTokenGuard)
@UsePipes(adminValidationPipe('invalid_client_metadata'))
export class AdminClientsController {
  constructor(private readonly registry: ClientRegistry) {}

  @Post()
  @Header('Cache-Control', 'no-store') // carries the client_secret (RFC 7591 §3.2.1, RFC 6749 §5.1)
  async create(@Body() body: CreateClientDto) {
    const { client, secret } = await this.registry.create(body, ACTOR);
    // The secret is shown once, here; only its hash is stored (RFC 7591 §3.2.1).
    return { ...clientView(client), ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}) };
  }

  @Get()
  async list(@Query() query: Record<string, unknown>) {
    const { limit, cursor } = singleQueryValues(query, ['limit', 'cursor'] as const);
    const take = Math.min(Math.max(Number(limit) || 50, 1), 200);
    const clients = await this.registry.list(take, cursor || undefined);
    return {
      clients: clients.map(clientView),
      next_cursor: clients.length === take ? clients[clients.length - 1]!.clientId : null,
    };
  }

  @Get(':client_id')
  async get(@Param('client_id') clientId: string) {
    return clientView(await this.registry.get(clientId));
  }

  @Patch(':client_id')
  @Header('Cache-Control', 'no-store') // may carry a rotated client_secret
  async update(@Param('client_id') clientId: string, @Body() body: UpdateClientDto) {
    const { client, secret } = await this.registry.update(clientId, body, ACTOR);
    return { ...clientView(client), ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}) };
  }

  @Delete(':client_id')
  @HttpCode(204)
  async remove(@Param('client_id') clientId: string) {
    await this.registry.remove(clientId, ACTOR);
  }
}
