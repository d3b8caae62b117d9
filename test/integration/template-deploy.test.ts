import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { baseImageFromEnv, dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// A repository with no Dockerfile at all: `include: { template: static-site }` gives it the test
// job and `build: { template: static-site }` the image, built FROM the base image the user names
// (here the local busybox, standing in for their Harbor's web-server image).
describe('a merge builds and deploys with a built-in template', () => {
  let h: Harness;
  const suffix = randomBytes(3).toString('hex');
  const service = `site-${suffix}`;
  const projectId = 14000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(2);

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h.stop();
  });

  it('runs the template test job, builds with the template Dockerfile and serves the site on pre', async () => {
    const project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `web/${service}`, defaultBranch: 'main' });
    const pipeline = [
      'include: [{ template: static-site }]',
      `variables: { SITE_IMAGE: ${baseImageFromEnv()} }`,
      'build:',
      `  image: demo/${service}`,
      '  template: static-site',
      `  args: { BASE_IMAGE: ${baseImageFromEnv()} }`,
      'deploy:',
      `  service: ${service}`,
      '  environments:',
      `    pre: { port: ${port}, health: /healthz, timeout: 30s }`,
      '',
    ].join('\n');
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': pipeline,
        'public/index.html': `<h1>Landing ${suffix}</h1>\n`,
        'public/healthz': 'ok\n',
        'README.md': 'no Dockerfile here\n',
      },
      'Merge branch landing',
    );
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    const run = await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 120_000);

    expect(run.jobs.map((j) => [j.name, j.status.phase])).toEqual([
      ['site-check', 'success'],
      ['image', 'success'],
      ['deploy:pre', 'success'],
    ]);
    expect(run.status.phase).toBe('succeeded');

    // The image job built the template's Dockerfile (the repository has none) FROM the base asked for
    // (the template's default is harbor.example.com/base/nginx:1), with its SITE_DIR default.
    const log = await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`);
    const imageLog = log.body.lines.filter((l) => l.job === 'image').map((l) => l.line);
    expect(imageLog.some((l) => /^#\d+ \[1\/2\] FROM /.test(l) && l.endsWith(baseImageFromEnv()))).toBe(true);
    expect(imageLog).toContainEqual(expect.stringMatching(/^#\d+ \[2\/2\] COPY public \/www$/));
    const image = await dockerFromEnv()
      .getImage(run.image?.ref ?? '')
      .inspect();
    expect(image.Config.Cmd?.join(' ')).toContain('exec httpd -f -p "0.0.0.0:$PORT" -h /www');

    // The service answers on its pre address with the merged site.
    const pre = run.deployments.find((d) => d.environment === 'pre');
    expect(pre?.image).toBe(run.image?.ref);
    expect(await (await fetch(pre?.url ?? '')).text()).toBe(`<h1>Landing ${suffix}</h1>\n`);
    expect(
      h.gitlab
        .statuses(projectId, sha)
        .filter((s) => s.name === 'slipway/image')
        .at(-1)?.status,
    ).toBe('success');
  });
});
