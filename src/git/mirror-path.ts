// GitLab path segments: letters, digits, '_', '-', '.', not starting with
// '.' or '-'. Checking instead of escaping means '..', '/abs' or '' can never
// reach the file system.
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * GitLab path_with_namespace → one directory name under the workspace root.
 * '/' becomes '+', which GitLab paths cannot contain, so the mapping is
 * injective; lower-cased because GitLab paths are unique case-insensitively.
 */
export function mirrorDirName(project: string): string {
  const segments = project.split('/');
  if (segments.length < 1 || segments.some((s) => !SEGMENT.test(s) || s.endsWith('.'))) {
    throw new Error(`invalid GitLab project path: ${JSON.stringify(project.slice(0, 200))}`);
  }
  return `${segments.join('+').toLowerCase()}.git`;
}
