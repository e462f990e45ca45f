/** The sections of an application's page, each a URL under /apps/APP_ID (known to the router before its chunk loads). */
export const APP_TABS = [
  { tab: '', label: 'Overview' },
  { tab: 'replication', label: 'Replication' },
  { tab: 'launch', label: 'Launch' },
  { tab: 'validation', label: 'Validation' },
  { tab: 'instances', label: 'Instances' },
] as const;
export type AppTab = (typeof APP_TABS)[number]['tab'];

export function isAppTab(value: string): value is AppTab {
  return APP_TABS.some((t) => t.tab === value);
}
