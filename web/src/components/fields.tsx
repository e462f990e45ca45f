/** Labelled form fields with hints and inline errors wired through aria-describedby / aria-invalid. */
import type { ComponentChildren } from 'preact';

interface FieldProps {
  id: string;
  label: string;
  hint?: ComponentChildren;
  error?: string;
  children: (aria: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }) => ComponentChildren;
  class?: string;
}

/** The ids of a field's hint and error, for its control's aria-describedby. */
function describedBy(id: string, hint: unknown, error: unknown): string | undefined {
  return [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
}

/** A field's hint and error under its control, with the ids describedBy names. */
function FieldNotes(props: { id: string; hint?: ComponentChildren; error?: string }) {
  return (
    <>
      {props.hint ? (
        <p class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.error ? (
        <p class="field-error" id={`${props.id}-error`}>
          <span aria-hidden="true">⚠ </span>
          {props.error}
        </p>
      ) : null}
    </>
  );
}

export function Field(props: FieldProps) {
  const described = describedBy(props.id, props.hint, props.error);
  return (
    <div class={`field${props.error ? ' invalid' : ''}${props.class ? ` ${props.class}` : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children({ id: props.id, 'aria-describedby': described, 'aria-invalid': props.error ? true : undefined })}
      <FieldNotes id={props.id} hint={props.hint} error={props.error} />
    </div>
  );
}

export function Checkbox(props: { id: string; label: string; checked: boolean; onChange: (checked: boolean) => void; hint?: string; error?: string }) {
  const described = describedBy(props.id, props.hint, props.error);
  return (
    <div class={`field checkbox${props.error ? ' invalid' : ''}`}>
      <input
        type="checkbox"
        id={props.id}
        checked={props.checked}
        aria-describedby={described}
        aria-invalid={props.error ? true : undefined}
        onChange={(e) => props.onChange(e.currentTarget.checked)}
      />
      <label for={props.id}>{props.label}</label>
      <FieldNotes id={props.id} hint={props.hint} error={props.error} />
    </div>
  );
}

/**
 * A text input for identifiers (ids, names, keys, buckets): the browser neither completes nor spell-checks them.
 * `aria` is what Field hands its control.
 */
export function IdentifierInput(props: {
  aria: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean };
  value: string;
  onValue: (value: string) => void;
  list?: string;
  placeholder?: string;
  disabled?: boolean;
}) {
  return (
    <input
      {...props.aria}
      type="text"
      autocomplete="off"
      spellcheck={false}
      list={props.list}
      placeholder={props.placeholder}
      disabled={props.disabled}
      value={props.value}
      onInput={(e) => props.onValue(e.currentTarget.value)}
    />
  );
}

/** An integer from a number input: undefined when blank, NaN-safe (a non-integer is sent as typed, for the API to judge). */
export function parseIntField(value: string): number | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : undefined;
}
