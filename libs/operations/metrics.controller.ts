import { Controller, Get, Module, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Metrics } from './metrics.js';

/**
 * GET /metrics, Prometheus text format, without authentication (scrapers rarely carry tokens;
 * restrict it at the network if needed). It exposes no secrets and no personal data: counts
 * and latencies labelled by decision kind/outcome, reason code, endpoint class, HTTP status and
 * cache name, plus the process's own figures (CPU, memory, event loop, GC). No client ids,
 * tokens, keys, paths or IP addresses appear in any label.
 */
@Controller()
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get('metrics')
  async scrape(@Res() res: Response) {
    const body = await this.metrics.render();
    res.setHeader('Content-Type', this.metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).send(body);
  }
}

/** One Metrics (one registry) per app; import this module to count into it. */
@Module({ controllers: [MetricsController], providers: [Metrics], exports: [Metrics] })
export class MetricsModule {}
