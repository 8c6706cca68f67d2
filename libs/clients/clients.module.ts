import { Module } from '@nestjs/common';
import { AdminClientsController } from './admin-clients.controller.js';
import { ClientRegistry } from './client-registry.js';
import { ClientRepository } from './client-repository.js';

@Module({
  controllers: [AdminClientsController],
  providers: [ClientRepository, ClientRegistry],
  exports: [ClientRegistry],
})
export class ClientsModule {}
