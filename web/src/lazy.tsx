/**
 * Pages loaded on first use: the Applications section ships in a chunk of its own, so signing in and the replication
 * pages load no more than before it existed.
 */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ErrorMessage, Loading } from './components/ui.tsx';

export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>, what: string): ComponentType<P> {
  let loaded: ComponentType<P> | undefined;
  let loading: Promise<ComponentType<P>> | undefined;
  return function LazyPage(props: P) {
    const [Component, setComponent] = useState<ComponentType<P> | undefined>(() => loaded);
    const [error, setError] = useState<unknown>(undefined);
    useEffect(() => {
      if (Component) return;
      loading ??= load();
      loading.then(
        (c) => {
          loaded = c;
          setComponent(() => c);
        },
        (thrown: unknown) => {
          // Try again next time (e.g. Ferry was upgraded and the old chunk is gone: a reload fixes it).
          loading = undefined;
          setError(thrown);
        },
      );
    }, []);
    if (error) return <ErrorMessage error={error} prefix={`Could not load ${what}; reload the page.`} />;
    return Component ? <Component {...props} /> : <Loading what={what} />;
  };
}
