import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards, UsePipes } from '@nestjs/common';
import { AdminTokenGuard, adminValidationPipe } from '#admin';
import { CreateTrustedIssuerDto, UpdateTrustedIssuerDto } from './trusted-issuer-dto.js';
import { trustedIssuerView } from './trusted-issuer.js';
import { TrustedIssuers } from './trusted-issuers.js';

const ACTOR = 'admin-token';

/** docs/federation.md: the issuers whose platform tokens workloads may authenticate with. */
@Controller('admin/trusted-issuers')
@UseGuards(AdminTokenGuard)
@UsePipes(adminValidationPipe())
export class TrustedIssuersController {
  constructor(private readonly issuers: TrustedIssuers) {}

  @Post()
  async create(@Body() body: CreateTrustedIssuerDto) {
    return trustedIssuerView(await this.issuers.create(body, ACTOR));
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
  async update(@Param('id') id: string, @Body() body: UpdateTrustedIssuerDto) {
    return trustedIssuerView(await this.issuers.update(id, body, ACTOR));
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string) {
    await this.issuers.remove(id, ACTOR);
  }
}
