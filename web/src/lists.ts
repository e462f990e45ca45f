/**
 * Updates for a form's list of entries (validations, server groups), written for a state setter:
 * `setItems(patchAt(index, patch))`. Each returns a new list and leaves the one it is given alone.
 */

/** The entry at `index` with `patch` applied; the others as they were. */
export const patchAt =
  <T extends object>(index: number, patch: Partial<T>) =>
  (items: readonly T[]): T[] =>
    items.map((item, i) => (i === index ? { ...item, ...patch } : item));

/** The entry at `index` replaced by `value`. */
export const replaceAt =
  <T,>(index: number, value: T) =>
  (items: readonly T[]): T[] =>
    items.map((item, i) => (i === index ? value : item));

/** The list without the entry at `index`. */
export const removeAt =
  (index: number) =>
  <T,>(items: readonly T[]): T[] =>
    items.filter((_, i) => i !== index);
