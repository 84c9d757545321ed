export interface JobFilters {
  name?: string;
  status?: string;
  tag?: string;
}
export function filterParams(filters: JobFilters): Array<[string, string]>;
export function matchesFilters(
  job: { id: string; name: string | null; status: string; tags?: string[]; spec?: { model?: { kind?: string } } },
  filters: JobFilters,
): boolean;
