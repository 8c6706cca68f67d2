import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards, UsePipes } from '@nestjs/common';
import { Actor, type AdminActor, AdminTokenGuard, adminValidationPipe } from '#admin';
import { CreateTrustedIssuerDto, UpdateTrustedIssuerDto } from './trusted-issuer-dto.js';
import { trustedIssuerView } from './trusted-issuer.js';
import { TrustedIssuers } from './trusted-issuers.js';

/** docs/federation.md: the issuers whose platform tokens workloads may authenticate with. */
@Controller('admin/trusted-issuers')
@UseGuards(AdminTokenGuard)
@UsePipes(adminValidationPipe())
export class TrustedIssuersController {
  constructor(private readonly issuers: TrustedIssuers) {}

  @Post()
  async create(@Body() body: CreateTrustedIssuerDto, @Actor() actor: AdminActor) {
    return trustedIssuerView(await this.issuers.create(body, actor));
  }

  @Get()
  async list() {
    return { trusted_issuers: (await this.issuers.list()).map(trustedIssuerView) };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    return trustedIssuerView(await this.issuers.get(id));
  }

  @Patch(':id')
  async update(@Param('id') id: string, @Body() body: UpdateTrustedIssuerDto, @Actor() actor: AdminActor) {
    return trustedIssuerView(await this.issuers.update(id, body, actor));
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string, @Actor() actor: AdminActor) {
    await this.issuers.remove(id, actor);
  }
}
