export interface Issue {
  path: string;
  message: string;
}
export type FormValues = Record<string, string | boolean>;
export const PRESETS: { regression: Record<string, unknown>; twoLayer: Record<string, unknown> };
export const FIELD_PATHS: string[];
export function buildSpec(values: FormValues): { spec: Record<string, any>; issues: Issue[] };
export function valuesFromSpec(spec: unknown): FormValues;
export function fieldForPath(path: string, fields?: string[]): string | null;
export function fieldApplies(when: string | null | undefined, values: FormValues): boolean;
