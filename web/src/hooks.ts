/** Loading data, polling it, and announcing changes. */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { errorInfo, isAuthError, type ApiErrorInfo } from './api/errors.ts';
import { fieldOf } from './api/errorPaths.ts';
import { useApi } from './context.ts';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): Promise<void>;
}

/**
 * Loads `load()` now and whenever `deps` change; with `pollMs`, again every `pollMs` (never overlapping, and
 * only while the tab is visible). `pollMs` may change between renders (poll faster while a run is active).
 */
export function useResource<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Resource<T> {
  const { onAuthError } = useApi();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const generation = useRef(0);
  const inFlight = useRef<Promise<void> | null>(null);

  const reload = useCallback(async () => {
    if (inFlight.current) return inFlight.current;
    const mine = generation.current;
    const run = (async () => {
      try {
        const value = await loadRef.current();
        if (mine !== generation.current) return;
        setData(value);
        setError(undefined);
      } catch (thrown) {
        if (mine !== generation.current) return;
        if (isAuthError(thrown)) onAuthError(thrown);
        setError(thrown);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    })();
    inFlight.current = run;
    try {
      await run;
    } finally {
      inFlight.current = null;
    }
  }, [onAuthError]);

  useEffect(() => {
    generation.current++;
    inFlight.current = null;
    setLoading(true);
    setData(undefined);
    void reload();
  }, deps);

  useEffect(() => {
    if (!pollMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState !== 'hidden') void reload();
    }, pollMs);
    return () => clearInterval(timer);
  }, [pollMs, reload]);

  return { data, error, loading, reload };
}

/** Re-renders every `ms` (for "12 s ago" texts). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** Sets the document title for a page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Ferry console`;
  }, [title]);
}

/** A form's error, pinned to the field its message names (one of the form's fields), if any. */
export interface FormError<F extends string> extends ApiErrorInfo {
  field?: F;
}

/**
 * After a failed submit, moves focus to the field the problem names (`targetId`), or else to `fallbackId` (the
 * form's error message). A layout effect, so focus moves in the same task that renders the error: a plain effect
 * runs after the next frame, and until then focus sits on the submit button (or on the body, once the busy button
 * is disabled), which is what a keyboard user, a screen reader or a test would find there.
 */
export function useFocusOnProblem<P>(problem: P | undefined, targetId: (problem: P) => string | undefined, fallbackId?: string): void {
  useLayoutEffect(() => {
    if (problem === undefined) return;
    const id = targetId(problem);
    const target = (id ? document.getElementById(id) : null) ?? (fallbackId ? document.getElementById(fallbackId) : null);
    target?.focus();
  }, [problem]);
}

/**
 * A form's error state: `fail` records what a submit threw, pinned to the field its message names; `fieldError`
 * is the text that field shows. With `focus`, a failed submit moves focus to that field (`<idPrefix>-<field>`) or
 * else to the form's error message (`errorId`).
 */
export function useFormError<F extends string>(fields: readonly F[], focus?: { idPrefix: string; errorId: string }) {
  const [error, setError] = useState<FormError<F> | undefined>(undefined);
  useFocusOnProblem(focus ? error : undefined, (e) => (e.field ? `${focus!.idPrefix}-${e.field}` : undefined), focus?.errorId);
  return {
    error,
    clear: () => setError(undefined),
    fail(thrown: unknown): void {
      const info = errorInfo(thrown);
      setError({ ...info, field: fieldOf(info.message, fields) as F | undefined });
    },
    fieldError: (name: F): string | undefined => (error?.field === name ? `${error.code}: ${error.message}` : undefined),
  };
}

/**
 * A request's busy flag: `whileBusy(work, onError)` sets it while `work` runs and hands what `work` throws to
 * `onError` (the form's error state), so a failed request never leaves the form stuck busy.
 */
export function useBusy() {
  const [busy, setBusy] = useState(false);
  async function whileBusy(work: () => Promise<void>, onError: (thrown: unknown) => void): Promise<void> {
    setBusy(true);
    try {
      await work();
    } catch (thrown) {
      onError(thrown);
    } finally {
      setBusy(false);
    }
  }
  return { busy, whileBusy };
}
