// A decider: pure decide(command, state) → events and evolve(state, event) → state. No clock, no randomness.
export interface Decider<Command, State, Event> {
  readonly initialState: () => State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

export function fold<State, Event>(
  d: Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve'>,
  events: Iterable<Event>,
): State {
  let s = d.initialState();
  for (const e of events) s = d.evolve(s, e);
  return s;
}

/** Exhaustiveness check for switch statements over unions. */
export function assertNever(x: never): never {
  throw new TypeError(`unhandled case: ${JSON.stringify(x)}`);
}
