/**
 * The fake GitLab (src/standins/gitlab) in a process of its own, for benchmarks that measure a
 * Slipway process: the stand-in's own work (a git process per commit-status post, git over HTTP)
 * then does not run on Slipway's event loop. Prints one JSON line `{ url, token, bareDir, shas }`
 * once the project and its commits exist (commit i also on branch b<i>), and stops when its stdin closes.
 *
 *   npx tsx bench/fake-gitlab-process.ts <projectId> <path> <commits> <pipeline file text>
 */
import { execFileSync } from 'node:child_process';
import { startFakeGitlab } from '../src/standins/gitlab/gitlab-server.js';

/** `n` commits on main after one carrying the pipeline file, one file changed in each, by one `git fast-import`; their SHAs, oldest first. */
function makeCommits(bareDir: string, n: number, pipelineFile: string): string[] {
  const lines: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}`;
  for (let i = 1; i <= n + 1; i++) {
    lines.push('commit refs/heads/main', `mark :${i}`, `committer Bench <bench@slipway.invalid> ${1_700_000_000 + i} +0000`, data(`commit ${i}\n`));
    if (i > 1) lines.push(`from :${i - 1}`);
    if (i === 1) lines.push('M 100644 inline .slipway.yml', data(pipelineFile));
    lines.push('M 100644 inline src/counter.txt', data(`${i}\n`), '');
  }
  execFileSync('git', ['--git-dir', bareDir, 'fast-import', '--quiet', '--force'], { input: lines.join('\n') });
  const shas = execFileSync('git', ['--git-dir', bareDir, 'rev-list', '--reverse', 'refs/heads/main'], { encoding: 'utf8' }).trim().split('\n');
  // Branch b<i> at commit i: a push to a branch of its own is a pipeline nothing auto-cancels.
  execFileSync('git', ['--git-dir', bareDir, 'update-ref', '--stdin'], { input: shas.map((sha, i) => `create refs/heads/b${i} ${sha}\n`).join('') });
  return shas;
}

const [id, projectPath, commits, pipelineFile] = process.argv.slice(2);
const gitlab = await startFakeGitlab();
const project = await gitlab.addProject({ id: Number(id), pathWithNamespace: projectPath ?? 'bench/project', defaultBranch: 'main' });
const shas = makeCommits(project.bareDir, Number(commits), pipelineFile ?? '');
process.stdout.write(`${JSON.stringify({ url: gitlab.url, token: gitlab.token, bareDir: project.bareDir, shas })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void gitlab.close().then(() => process.exit(0));
});
