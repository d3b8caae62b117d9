import { describe, expect, it } from 'vitest';
import { parseSite, renderSite, routeProblems, type Route } from '../../../src/frontproxy/site-config.js';

const route = (stable: number, canary: number): Route => ({
  service: 'cart',
  environment: 'staging',
  listen: { host: '127.0.0.1', port: 19000 },
  backends: [
    { role: 'stable', host: '127.0.0.1', port: 19080, weight: stable },
    { role: 'canary', host: '127.0.0.1', port: 19081, weight: canary },
  ],
});

describe('front proxy site file', () => {
  it('weights each release by its percent behind one fixed address', () => {
    const text = renderSite(route(90, 10));
    expect(text).toContain('listen 127.0.0.1:19000;');
    expect(text).toContain('server 127.0.0.1:19080 weight=90 max_fails=0; # stable');
    expect(text).toContain('server 127.0.0.1:19081 weight=10 max_fails=0; # canary');
    expect(text).toContain('proxy_pass http://slipway_cart__staging;');
  });

  it('leaves a release with no share out of the upstream (nginx has no weight 0)', () => {
    const text = renderSite(route(100, 0));
    expect(text).not.toContain('server 127.0.0.1:19081');
    expect(parseSite('cart', 'staging', text)).toEqual(route(100, 0));
  });

  it('refuses routes nginx could not serve, naming the problem', () => {
    expect(routeProblems(route(90, 20))).toEqual(['the weights add up to 110, not 100']);
    expect(routeProblems(route(0, 0))).toContain('no backend takes traffic: at least one needs a weight above 0');
    expect(routeProblems({ ...route(100, 0), service: 'cart;} server {' })[0]).toMatch(/^invalid service name/);
    expect(() => renderSite({ ...route(100, 0), listen: { host: '127.0.0.1; include /etc/passwd', port: 1 } })).toThrow(/invalid host/);
  });
});
