/** The job list's filters (public/js/job-filter.js): the query sent, and the same test applied to the answer. */
import { expect, test } from 'vitest';
import { filterParams, matchesFilters } from '../../public/js/job-filter.js';

const job = (over: Partial<{ id: string; name: string | null; status: string; tags: string[] }> = {}) => ({
  id: '3f2a9c1e-0000-4000-8000-000000000000',
  name: 'Alpha run' as string | null,
  status: 'succeeded',
  spec: { model: { kind: 'linear_regression' } },
  ...over,
});

test('only the filters that are set are sent, trimmed', () => {
  expect(filterParams({ name: '  alpha ', status: '', tag: undefined })).toEqual([['name', 'alpha']]);
  expect(filterParams({ name: '', status: 'failed', tag: 'baseline' })).toEqual([['status', 'failed'], ['tag', 'baseline']]);
  expect(filterParams({})).toEqual([]);
});

test('name: any case, part of the name, or of an unnamed job\'s model and short id', () => {
  expect(matchesFilters(job(), { name: 'alpha' })).toBe(true);
  expect(matchesFilters(job(), { name: 'RUN' })).toBe(true);
  expect(matchesFilters(job(), { name: 'beta' })).toBe(false);
  expect(matchesFilters(job({ name: null }), { name: 'linear' })).toBe(true);
  expect(matchesFilters(job({ name: null }), { name: '3f2a' })).toBe(true);
});

test('status is exact; a tag must be among the tags, unless the job carries no tags field at all', () => {
  expect(matchesFilters(job(), { status: 'succeeded' })).toBe(true);
  expect(matchesFilters(job(), { status: 'failed' })).toBe(false);
  expect(matchesFilters(job({ tags: ['baseline', 'lr-sweep'] }), { tag: 'baseline' })).toBe(true);
  expect(matchesFilters(job({ tags: ['lr-sweep'] }), { tag: 'baseline' })).toBe(false);
  expect(matchesFilters(job(), { tag: 'baseline' })).toBe(true);
});
