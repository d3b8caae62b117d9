const SHA = /^[0-9a-f]{40}$/;

/** A full commit id: the only revision form we pass to git, so it can never be read as an option or a ref name. */
export function assertSha(sha: string): string {
  if (!SHA.test(sha)) throw new Error(`not a full 40-hex commit sha: ${JSON.stringify(sha.slice(0, 80))}`);
  return sha;
}
