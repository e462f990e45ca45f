/**
 * Which regions a credential scope may name. State is partitioned by the region of the SigV4 scope, so this rule
 * decides which partitions can exist at all: a region must look like an AWS region (`us-east-1`, `us-gov-west-1`,
 * `eu-isoe-west-1`: lower case, a two-letter area, one to three words, a number), and, when the operator
 * configured a list (FERRY_REGIONS), be on it.
 */

/** The shape of every AWS region name, across partitions (the union of the SDKs' per-partition region patterns). */
export const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]{1,16}){1,3}-[0-9]{1,2}$/;

export function isRegionName(region: string): boolean {
  return REGION_PATTERN.test(region);
}

/** A region a credential may be scoped to: AWS's pattern and, when one is configured, the allowed list. */
export function isAllowedRegion(region: string, allowed?: ReadonlySet<string>): boolean {
  return isRegionName(region) && (allowed === undefined || allowed.has(region));
}

/** Parses a comma-separated region list (`FERRY_REGIONS`); every entry must be a region name. */
export function parseRegionList(text: string, source = 'FERRY_REGIONS'): ReadonlySet<string> {
  const regions = text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (regions.length === 0) throw new Error(`${source} must list at least one region, such as us-east-1,eu-west-1.`);
  for (const region of regions) {
    if (!isRegionName(region)) throw new Error(`${source}: ${JSON.stringify(region)} is not a region name such as us-east-1.`);
  }
  return new Set(regions);
}

/**
 * A region named on the command line (`--region`): the same rule, with FERRY_REGIONS from the environment when set,
 * so that an operator cannot create state in a partition no credential can reach.
 */
export function regionArgument(value: string, env: Readonly<Record<string, string | undefined>>, flag = '--region'): string {
  const allowed = env.FERRY_REGIONS ? parseRegionList(env.FERRY_REGIONS) : undefined;
  if (!isAllowedRegion(value, allowed)) {
    const list = allowed ? `, one of FERRY_REGIONS (${[...allowed].join(', ')})` : '';
    throw new Error(`${flag} must look like us-east-1 (a region name${list}); got ${JSON.stringify(quotedRegion(value))}.`);
  }
  return value;
}

/** A region as it may appear in an error message: client-controlled text, so shortened. */
export function quotedRegion(region: string): string {
  return region.length > 40 ? `${region.slice(0, 40)}…` : region;
}
