// @ts-check
/**
 * The job list's filters (name, status, tag): the query GET /v1/jobs is sent, and the same test applied to what it
 * answers, so the list shows matching jobs even from a server that ignores a parameter it does not know. Pure (no
 * DOM), so vitest imports it as it is.
 */
import { jobLabel } from './format.js';

/** @typedef {{ name?: string, status?: string, tag?: string }} JobFilters */

/** The filters as query parameters: only those set, trimmed. @param {JobFilters} filters */
export function filterParams(filters) {
  /** @type {Array<[string, string]>} */
  const params = [];
  for (const key of /** @type {const} */ (['name', 'status', 'tag'])) {
    const value = (filters[key] ?? '').trim();
    if (value) params.push([key, value]);
  }
  return params;
}

/**
 * Whether a listed job matches: its name (or, unnamed, its label "model · short id") contains the name filter, any
 * case; its status is the status filter; its tags include the tag filter. A job listed without a `tags` field
 * (a server without tags) is not dropped for the tag: the filter cannot say anything about it.
 * @param {{ id: string, name: string | null, status: string, tags?: string[], spec?: { model?: { kind?: string } } }} job
 * @param {JobFilters} filters
 */
export function matchesFilters(job, filters) {
  const name = (filters.name ?? '').trim().toLowerCase();
  if (name && !jobLabel(job).toLowerCase().includes(name)) return false;
  const status = (filters.status ?? '').trim();
  if (status && job.status !== status) return false;
  const tag = (filters.tag ?? '').trim();
  if (tag && Array.isArray(job.tags) && !job.tags.includes(tag)) return false;
  return true;
}
