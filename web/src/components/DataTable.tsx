/**
 * The console's tables: a scrolling frame, a caption for screen readers, one heading per column (a last, unlabelled
 * column for row actions when asked) and the rows. On narrow screens `stack` lays each row out as a card whose
 * cells are labelled by their data-label (styles.css).
 */
import type { ComponentChildren } from 'preact';

export function DataTable(props: {
  /** What the table lists, for screen readers. */
  caption: string;
  columns: readonly string[];
  /** A last column of row actions (buttons), without a visible heading. */
  actions?: boolean;
  testId?: string;
  /** The rows (`<tr>` elements). */
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class="stack" data-testid={props.testId}>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((column) => (
              <th scope="col" key={column}>
                {column}
              </th>
            ))}
            {props.actions ? (
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
