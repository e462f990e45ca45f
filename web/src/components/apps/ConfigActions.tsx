/**
 * What an App configuration form (replication, launch, validation) ends with: save, delete with a confirmation when
 * there is a configuration to delete, and a status line saying what the last action did. deleteConfiguration runs
 * the delete the same way for each: the form's messages cleared, then "deleted" or the error.
 */
import { errorInfo, type ApiErrorInfo } from '../../api/errors.ts';
import { ConfirmButton } from '../ui.tsx';

export function ConfigActions(props: {
  busy: boolean;
  /** What is saved: "replication configuration". */
  what: string;
  /** Whether there is a configuration to delete. */
  deletable: boolean;
  deleteQuestion: string;
  deleteConfirmLabel?: string;
  onDelete: () => Promise<void>;
  /** What the last action did ('' for nothing yet). */
  saved: string;
}) {
  return (
    <div class="form-actions">
      <button type="submit" class="primary" disabled={props.busy}>
        {props.busy ? 'Saving…' : `Save ${props.what}`}
      </button>
      {props.deletable ? (
        <ConfirmButton label="Delete configuration" question={props.deleteQuestion} confirmLabel={props.deleteConfirmLabel ?? 'Yes, delete it'} onConfirm={props.onDelete} />
      ) : null}
      <span role="status" class="ok-text">
        {props.saved}
      </span>
    </div>
  );
}

/** A form's messages: the error it shows and its status line. */
export interface FormMessages {
  setProblem(problem: ApiErrorInfo | undefined): void;
  setSaved(text: string): void;
}

/** Deletes a configuration for its form; `after` runs once it is gone (reload what the form shows). */
export async function deleteConfiguration(form: FormMessages, what: string, remove: () => Promise<unknown>, after: () => Promise<void> | void): Promise<void> {
  form.setProblem(undefined);
  form.setSaved('');
  try {
    await remove();
    form.setSaved(`The ${what} was deleted.`);
    await after();
  } catch (thrown) {
    form.setProblem(errorInfo(thrown));
  }
}
