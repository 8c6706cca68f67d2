import { createRequire } from 'node:module';
import { parseIp } from '../core/network.js';

/**
 * IP → country with the offline data shipped in the `geoip-country` package (GeoLite2 Country
 * by MaxMind, CC BY-SA 4.0); no download at run time. The package is CommonJS and reads ~8 MB
 * of data when first required, so it is loaded on the first lookup (or by loadCountryData()).
 *
 * Updating: `npm update geoip-country`. Its version's last segment is the data's date and time
 * (5.0.202609260156 → data of 2026-09-26 01:56 UTC); COUNTRY_DATA_VERSION reports it.
 */
const require = createRequire(import.meta.url);

type Lookup = (ip: string) => { country?: string } | null;
let lookup: Lookup | undefined;

/** The installed geoip-country version, e.g. "5.0.202609260156". */
export const COUNTRY_DATA_VERSION: string = (require('geoip-country/package.json') as { version: string }).version;

/** The data's date (YYYY-MM-DD) from the version's last segment; undefined if it has another shape. */
export const COUNTRY_DATA_DATE: string | undefined = (() => {
  const m = /\.(\d{4})(\d{2})(\d{2})\d*$/.exec(COUNTRY_DATA_VERSION);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : undefined;
})();

/** Loads the data now (at start-up) rather than on the first request. */
export function loadCountryData(): void {
  lookup ??= (require('geoip-country') as { lookup: Lookup }).lookup;
}

/**
 * ISO 3166-1 alpha-2 code of the ip's country; undefined when the ip is invalid, private or not
 * in the data (policy: an allowed_countries list then fails closed).
 */
export function countryOf(ip: string): string | undefined {
  const addr = parseIp(ip);
  if (!addr) return undefined;
  loadCountryData();
  try {
    const country = lookup!(addr.toString())?.country;
    return country && /^[A-Z]{2}$/.test(country) ? country : undefined;
  } catch {
    return undefined;
  }
}
