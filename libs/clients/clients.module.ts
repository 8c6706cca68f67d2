import { Module } from '@nestjs/common';
import { AdminClientsController } from './admin-clients.controller.js';
import { ClientKeySets } from './client-key-sets.js';
import { ClientRegistry } from './client-registry.js';
import { ClientRepository } from './client-repository.js';
import { RegistrationController } from './registration.controller.js';

@Module({
  controllers: [AdminClientsController, RegistrationController],
  providers: [ClientRepository, ClientRegistry, ClientKeySets],
  exports: [ClientRegistry, ClientKeySets],
})
export class ClientsModule {}
