import { Module } from '@nestjs/common';
import { AuditModule } from '#audit';
import { AdminClientsController } from './admin-clients.controller.js';
import { ClientKeySets } from './client-key-sets.js';
import { ClientRegistry } from './client-registry.js';
import { ClientRepository } from './client-repository.js';
import { RegistrationController } from './registration.controller.js';
import { ResourceCatalog } from './resource-catalog.js';

@Module({
  imports: [AuditModule],
  controllers: [AdminClientsController, RegistrationController],
  providers: [ClientRepository, ClientRegistry, ClientKeySets, ResourceCatalog],
  exports: [ClientRegistry, ClientKeySets, ResourceCatalog],
})
export class ClientsModule {}
