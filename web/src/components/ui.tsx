/** Small shared pieces: links, page frame, errors, badges, confirm and copy buttons. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorInfo } from '../api/errors.ts';
import { href, onLinkClick } from '../router.ts';
import { useTitle } from '../hooks.ts';

export function Link(props: { to: string; children: ComponentChildren; class?: string; current?: boolean; 'aria-label'?: string }) {
  return (
    <a
      href={href(props.to)}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
      aria-label={props['aria-label']}
      onClick={(e) => onLinkClick(e, props.to)}
    >
      {props.children}
    </a>
  );
}

/** A page: its <h1> takes focus when the page opens, so screen readers and keyboard users start there. */
export function Page(props: { title: string; heading?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren }) {
  useTitle(props.title);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement?.closest('nav')) heading.current?.focus();
  }, [props.title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1} ref={heading}>
          {props.heading ?? props.title}
        </h1>
        {props.actions ? <div class="page-actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </section>
  );
}

/** The link back up from a detail or create page ("← All applications"). */
export function BackLink(props: { to: string; children: ComponentChildren }) {
  return (
    <p>
      <Link to={props.to}>← {props.children}</Link>
    </p>
  );
}

/**
 * An error as the console shows it: what failed (`prefix`), the code and the message. A form's error has an `id` and
 * is `focusable`, so the form can move focus to it after a failed submit.
 */
export function ErrorMessage(props: { error: unknown; prefix?: string; id?: string; focusable?: boolean }) {
  if (!props.error) return null;
  const { code, message } = errorInfo(props.error);
  return (
    <div id={props.id} class="alert error" role="alert" tabIndex={props.focusable ? -1 : undefined}>
      {props.prefix ? <strong>{props.prefix} </strong> : null}
      <span class="code">{code}</span>: {message}
    </div>
  );
}

export function Loading(props: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {props.what}…
    </p>
  );
}

/** A create form's ending: the submit button (its label while busy is `Creating…`) and Cancel, back to `cancelTo`. */
export function CreateActions(props: { busy: boolean; label: string; cancelTo: string }) {
  return (
    <div class="form-actions">
      <button type="submit" class="primary" disabled={props.busy}>
        {props.busy ? 'Creating…' : props.label}
      </button>
      <Link to={props.cancelTo} class="button">
        Cancel
      </Link>
    </div>
  );
}

/** Where a loaded resource stands: its error, if its last load failed, and "Loading …" until its first data arrives. */
export function LoadState(props: { of: { data: unknown; error: unknown; loading: boolean }; what: string; failed: string }) {
  return (
    <>
      <ErrorMessage error={props.of.error} prefix={props.failed} />
      {props.of.loading && !props.of.data ? <Loading what={props.what} /> : null}
    </>
  );
}

const TONE: Record<string, string> = {
  HEALTHY: 'good',
  AVAILABLE: 'good',
  COMPLETED: 'good',
  ACTIVE: 'info',
  IMPORTING: 'info',
  PENDING: 'neutral',
  DELETING: 'warn',
  FAILING: 'warn',
  PAUSED_ON_FAILURE: 'warn',
  MISSED: 'warn',
  UNHEALTHY: 'bad',
  FAILED: 'bad',
  DELETED: 'neutral',
  DELETION_FAILED: 'bad',
  EXPIRED: 'neutral',
  NOT_IMPORTED: 'neutral',
};

/** Tones of the statuses not listed above (App, validation and instance statuses), by what their names say. */
function toneOf(value: string): string {
  const known = TONE[value];
  if (known) return known;
  const upper = value.toUpperCase();
  if (/FAILED|INVALID/.test(upper)) return 'bad';
  if (/^PARTIALLY_/.test(upper)) return 'warn';
  if (/^(DELTA_)?REPLICATED$|^LAUNCHED$|^SUCCEEDED$|^CONFIGURED$|^RUNNING$|^HYDRATED$/.test(upper)) return 'good';
  if (/(PENDING|IN_PROGRESS|ING)$/.test(upper)) return 'info';
  return 'neutral';
}

export function Badge(props: { value: string | undefined }) {
  const value = props.value ?? 'UNKNOWN';
  return <span class={`badge ${toneOf(value)}`}>{value.replace(/_/g, ' ')}</span>;
}

/**
 * A destructive action in two steps: the first press asks, with the confirming button focused; Escape or
 * Cancel go back.
 */
export function ConfirmButton(props: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => Promise<void> | void;
  disabled?: boolean;
  class?: string;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirm = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" ref={opener} class={props.class ?? 'danger'} disabled={props.disabled} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  }
  const cancel = () => {
    setAsking(false);
    setTimeout(() => opener.current?.focus());
  };
  return (
    <span
      class="confirm"
      role="group"
      aria-label={props.question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') cancel();
      }}
    >
      <span class="confirm-question">{props.question}</span>
      <button
        type="button"
        class="danger"
        ref={confirm}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await props.onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        {busy ? 'Working…' : props.confirmLabel}
      </button>
      <button type="button" onClick={cancel}>
        Cancel
      </button>
    </span>
  );
}

/**
 * Copies `text`. Where the Clipboard API is missing (pages served over plain http from another host are not a
 * secure context), it selects the element `selectId` instead so Ctrl+C copies it.
 */
export function CopyButton(props: { text: string; label: string; selectId?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'selected'>('idle');
  return (
    <>
      <button
        type="button"
        aria-label={props.label}
        onClick={async () => {
          try {
            if (!navigator.clipboard) throw new Error('no clipboard');
            await navigator.clipboard.writeText(props.text);
            setState('copied');
          } catch {
            const target = props.selectId ? document.getElementById(props.selectId) : null;
            if (target) {
              const range = document.createRange();
              range.selectNodeContents(target);
              const selection = window.getSelection();
              selection?.removeAllRanges();
              selection?.addRange(range);
            }
            setState('selected');
          }
          setTimeout(() => setState('idle'), 4000);
        }}
      >
        {state === 'copied' ? 'Copied' : 'Copy'}
      </button>
      <span class="visually-hidden" role="status">
        {state === 'copied' ? 'Command copied to the clipboard.' : state === 'selected' ? 'The command is selected: press Control+C to copy it.' : ''}
      </span>
    </>
  );
}

/** A label–value list for a record's details. */
export function Details(props: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="details">
      {props.items.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value ?? '—'}</dd>
        </div>
      ))}
    </dl>
  );
}
