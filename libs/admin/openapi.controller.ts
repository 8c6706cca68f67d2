import { Controller, Get, Header } from '@nestjs/common';
import document from './openapi.json' with { type: 'json' };

/**
 * GET /openapi.json: the OpenAPI 3.1 description of the admin API and of RFC 7591/7592
 * registration. It is a committed source file (libs/admin/openapi.json), kept honest by
 * test/openapi.test.ts against live answers; it holds no secrets, so it needs no token.
 */
@Controller()
export class OpenApiController {
  @Get('openapi.json')
  @Header('Cache-Control', 'public, max-age=300')
  get() {
    return document;
  }
}
