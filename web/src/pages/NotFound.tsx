import { Link, Page } from '../components/ui.tsx';

export function NotFoundPage() {
  return (
    <Page title="Page not found">
      <p>
        There is no console page at this address. Go to the <Link to="/servers">servers</Link>.
      </p>
    </Page>
  );
}
