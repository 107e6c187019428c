import { RoleLifecycle } from '../../../src/runtime/role.js';

describe('RoleLifecycle', () => {
  test('a role that never started stops without draining', () => {
    const lifecycle = new RoleLifecycle('worker:a');
    expect(lifecycle.beginStop()).toBe(false);
    expect(lifecycle.state).toBe('stopped');
  });

  test('a running role drains, and a second stop has nothing to do', () => {
    const lifecycle = new RoleLifecycle('worker:a');
    lifecycle.to('starting');
    lifecycle.to('running');
    expect(lifecycle.beginStop()).toBe(true);
    expect(lifecycle.state).toBe('draining');
    lifecycle.to('stopped');
    expect(lifecycle.beginStop()).toBe(false);
  });

  test('an illegal transition names the role and both states', () => {
    const lifecycle = new RoleLifecycle('router');
    expect(() => lifecycle.to('running')).toThrow('router: illegal state transition created -> running');
  });
});
