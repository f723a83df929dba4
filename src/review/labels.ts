/**
 * Turning a task's verdicts into one label per category. With one reviewer it is their verdict. With
 * several, the majority. A tie is settled by the policy's `review.ties`: `escalate` (the default) asks
 * one more moderator before anything is settled (see `hasTie`; the review service does it), `flag` takes
 * the flagging side (a split panel is reason enough to act), `drop` records no label for that category.
 */
export type TieRule = 'flag' | 'drop';

export interface ResolvedLabel {
  category: string;
  /** null: a dropped tie. */
  label: boolean | null;
  modelLabel: boolean;
  votesYes: number;
  votesTotal: number;
  /** The verdicts disagreed with each other on this category. */
  conflict: boolean;
}

export function resolveLabels(
  categories: string[],
  verdicts: Record<string, boolean>[],
  modelLabels: Record<string, boolean>,
  ties: TieRule,
): ResolvedLabel[] {
  if (verdicts.length === 0) throw new Error('no verdicts to resolve');
  return categories.map((category) => {
    const votesYes = verdicts.filter((v) => v[category] === true).length;
    const votesTotal = verdicts.length;
    const votesNo = votesTotal - votesYes;
    let label: boolean | null;
    if (votesYes !== votesNo) label = votesYes > votesNo;
    else label = ties === 'flag' ? true : null;
    return {
      category,
      label,
      modelLabel: modelLabels[category] ?? false,
      votesYes,
      votesTotal,
      conflict: votesYes > 0 && votesNo > 0,
    };
  });
}

/** Categories where the settled label differs from the model's: each becomes a preference pair. */
export function disagreements(labels: ResolvedLabel[]): ResolvedLabel[] {
  return labels.filter((l) => l.label !== null && l.label !== l.modelLabel);
}

/** Whether the verdicts split evenly on some category (and so, under `escalate`, need one more). */
export function hasTie(categories: string[], verdicts: Record<string, boolean>[]): boolean {
  return categories.some((c) => {
    const yes = verdicts.filter((v) => v[c] === true).length;
    return yes * 2 === verdicts.length;
  });
}
