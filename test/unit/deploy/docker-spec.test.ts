import { describe, expect, it } from 'vitest';
import { demuxLines } from '../../../src/deploy/container-logs.js';
import { assertName, otherSlot, pickLive, slotPort, toServiceContainerOptions } from '../../../src/deploy/docker-spec.js';

describe('toServiceContainerOptions', () => {
  it('builds the green slot of a release by value', () => {
    expect(
      toServiceContainerOptions({
        service: 'web',
        environment: 'pre',
        slot: 'green',
        basePort: 8000,
        image: 'reg/web@sha256:abc',
        command: ['/bin/httpd', '-f'],
        env: { MODE: 'x', PORT: 'ignored' },
        runId: 'run-7',
      }),
    ).toEqual({
      name: 'slipway-svc-web-pre-green',
      Image: 'reg/web@sha256:abc',
      Entrypoint: ['/bin/httpd'],
      Cmd: ['-f'],
      Env: ['MODE=x', 'PORT=8001'],
      Labels: {
        'io.slipway.managed': 'true',
        'io.slipway.service': 'web',
        'io.slipway.environment': 'pre',
        'io.slipway.release': 'run-7',
        'io.slipway.slot': 'green',
        'io.slipway.port': '8001',
      },
      HostConfig: { NetworkMode: 'host', Init: true, RestartPolicy: { Name: 'no' } },
    });
  });

  it('keeps the image entrypoint when no command is given', () => {
    const o = toServiceContainerOptions({ service: 'a', environment: 'b', slot: 'blue', basePort: 9000, image: 'i', env: {}, runId: 'r' });
    expect(o.Entrypoint).toBeUndefined();
    expect(o.Cmd).toBeUndefined();
    expect(o.Env).toEqual(['PORT=9000']);
  });
});

describe('slots', () => {
  it('alternates ports', () => {
    expect(slotPort(8000, 'blue')).toBe(8000);
    expect(slotPort(8000, otherSlot('blue'))).toBe(8001);
    expect(otherSlot('green')).toBe('blue');
  });

  it('picks the running container, the older one if both run', () => {
    const c = (id: string, state: string, created: number, slot = 'blue') => ({ id, state, created, labels: { 'io.slipway.slot': slot } });
    expect(pickLive([c('a', 'exited', 1), c('b', 'running', 2, 'green')])?.id).toBe('b');
    expect(pickLive([c('new', 'running', 5, 'green'), c('old', 'running', 3)])?.id).toBe('old');
    expect(pickLive([c('a', 'exited', 1)])).toBeUndefined();
  });

  it('rejects names that could break container names', () => {
    expect(assertName('service', 'web-1')).toBe('web-1');
    for (const bad of ['', 'Web', '../x', 'a b', '-x', 'a/b']) expect(() => assertName('service', bad)).toThrow(/invalid service/);
  });
});

describe('demuxLines', () => {
  it('splits multiplexed frames into lines per stream', () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = stream;
      head.writeUInt32BE(body.length, 4);
      return Buffer.concat([head, body]);
    };
    expect(demuxLines(Buffer.concat([frame(1, 'a\nb'), frame(2, 'c\n'), frame(1, 'd\r\n')]))).toEqual(['a', 'c', 'bd']);
  });
});
