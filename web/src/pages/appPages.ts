/** The Applications section's pages: one lazily loaded chunk (see lazy.tsx). */
export { AppsPage } from './Apps.tsx';
export { CreateAppPage } from './CreateApp.tsx';
export { AppDetailPage } from './AppDetail.tsx';
