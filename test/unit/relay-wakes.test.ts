// The server wakes a child process after each commit. One wake-up is in flight at a time, so a child that reads its
// channel late (niced, busy for a second) never leaves a backlog of them in the server; none is lost either.
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { relayWakes } from '../../projections/niced-child.js';

/** A child whose channel accepts a message only when the test says the last one was written. */
function slowChild(): { child: ChildProcess; sent: string[]; written: () => void; connected: (c: boolean) => void } {
  const sent: string[] = [];
  let pending: ((err: Error | null) => void) | null = null;
  let connected = true;
  const child = {
    get connected() {
      return connected;
    },
    send(m: string, cb: (err: Error | null) => void) {
      if (pending !== null) throw new Error('a second message while one is in flight');
      sent.push(m);
      pending = cb;
      return true;
    },
  } as unknown as ChildProcess;
  return {
    child,
    sent,
    written: () => {
      const cb = pending;
      pending = null;
      cb?.(null);
    },
    connected: (c) => (connected = c),
  };
}

describe('unit: waking a child process', () => {
  it('keeps one wake-up in flight whatever the number of commits, and sends one more for commits meanwhile', () => {
    const c = slowChild();
    let listener: () => void = () => undefined;
    const unwatch = relayWakes(c.child, (l) => {
      listener = l;
      return () => (listener = () => undefined);
    });
    for (let i = 0; i < 100_000; i++) listener();
    expect(c.sent).to.deep.equal(['wake']);
    c.written(); // the child read it: one more, for the commits that came after it was sent
    expect(c.sent).to.have.length(2);
    c.written();
    expect(c.sent, 'nothing new since: nothing sent').to.have.length(2);
    listener();
    expect(c.sent).to.have.length(3);
    c.written();
    unwatch();
    listener();
    expect(c.sent, 'after unwatch').to.have.length(3);
  });

  it('sends nothing to a child that is gone', () => {
    const c = slowChild();
    let listener: () => void = () => undefined;
    relayWakes(c.child, (l) => {
      listener = l;
      return () => undefined;
    });
    c.connected(false);
    listener();
    expect(c.sent).to.deep.equal([]);
  });
});
