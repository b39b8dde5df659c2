// Small shared pieces: links, dialogs, loading/empty/error states, status chips, the shown-once token field.
import { cloneElement, toChildArray, type ComponentChildren, type JSX } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { BASE, useRouter } from './router';
import type { Key } from './types';

export function Link(props: { to: string; children: ComponentChildren; current?: boolean }): JSX.Element {
  const router = useRouter();
  return (
    <a
      href={BASE + props.to}
      aria-current={props.current ? 'page' : undefined}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        router.navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}

export function ErrorBox(props: { error: unknown }): JSX.Element | null {
  if (props.error === null || props.error === undefined) return null;
  const e = props.error;
  const code = e instanceof ApiError ? e.code : 'error';
  const msg = e instanceof Error ? e.message : 'Something went wrong.';
  return (
    <div class="alert error" role="alert">
      <strong>{msg}</strong> <span class="hint">({code})</span>
    </div>
  );
}

export function Loading(props: { what: string }): JSX.Element {
  return (
    <div class="loading" role="status">
      Loading {props.what}…
    </div>
  );
}

export function Empty(props: { children: ComponentChildren }): JSX.Element {
  return <div class="empty">{props.children}</div>;
}

export type Phase = 'active' | 'rotation_grace' | 'expired' | 'revoked';

export function phaseOf(k: Key): Phase {
  if (k.status !== 'active') return k.status;
  return k.rotatedTo !== null && k.graceEndsAt !== null ? 'rotation_grace' : 'active';
}

export function StatusChip(props: { phase: Phase }): JSX.Element {
  return <span class={`chip ${props.phase}`}>{props.phase === 'rotation_grace' ? 'rotation grace' : props.phase}</span>;
}

export function when(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A modal <dialog>: the browser traps focus, Escape closes it, and closing unmounts its content (and any token). */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren }): JSX.Element {
  const id = useId();
  const ref = useRef<HTMLDialogElement>(null);
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    const closed = (): void => onClose.current();
    d.addEventListener('close', closed);
    if (!d.open) d.showModal();
    return () => {
      // Unmounting is not the user closing it: detach first, so a replaced dialog does not close its successor.
      d.removeEventListener('close', closed);
      if (d.open) d.close();
    };
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={`${id}-title`}>
      <div class="dialog-body">
        <h2 id={`${id}-title`}>{props.title}</h2>
        {props.children}
      </div>
    </dialog>
  );
}

/** A token shown once: read-only, with Copy; it exists only while this component is mounted. */
export function TokenField(props: { token: string }): JSX.Element {
  const [copied, setCopied] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  return (
    <div>
      <label class="field" for="shown-token">
        Token
      </label>
      <div class="token-row">
        <input id="shown-token" ref={input} readOnly value={props.token} onFocus={(e) => e.currentTarget.select()} />
        <button
          type="button"
          onClick={() => {
            input.current?.select();
            navigator.clipboard.writeText(props.token).then(
              () => setCopied(true),
              () => setCopied(false),
            );
          }}
        >
          Copy
        </button>
      </div>
      <p class="hint" role="status">
        {copied ? 'Copied to the clipboard. ' : ''}This token is shown only now: store it safely before closing.
      </p>
    </div>
  );
}

/** Runs an async loader, keeping loading/error/data state; `reload` runs it again. */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: unknown[],
): { data: T | null; error: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** A datetime-local value (local time) as an ISO instant; empty stays undefined. */
export function localToIso(v: string): string | undefined {
  if (v === '') return undefined;
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** An instant as a datetime-local value, to the second. */
export function isoToLocal(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

/**
 * A label tied to its control by id rather than by nesting: a <select> inside a <label> would lend its options'
 * text to the label's name.
 */
export function Labelled(props: { label: string; children: ComponentChildren }): JSX.Element {
  const id = useId();
  const [control, ...rest] = toChildArray(props.children);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {control !== undefined && typeof control === 'object' ? cloneElement(control, { id }) : control}
      {rest}
    </div>
  );
}

/** A labelled table with a header row; `children` are its body rows. */
export function DataTable(props: { label: string; columns: string[]; children: ComponentChildren }): JSX.Element {
  return (
    <div class="table-wrap">
      <table aria-label={props.label}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** Previous/Next over cursor pages: `cursors` is the stack of cursors that led to the current page. */
export function Pager(props: {
  cursors: string[];
  next: string | null | undefined;
  onChange: (cursors: string[]) => void;
}): JSX.Element {
  const { cursors, next } = props;
  return (
    <div class="toolbar">
      {cursors.length > 0 && (
        <button type="button" onClick={() => props.onChange(cursors.slice(0, -1))}>
          Previous page
        </button>
      )}
      {next && (
        <button type="button" onClick={() => props.onChange([...cursors, next])}>
          Next page
        </button>
      )}
    </div>
  );
}

/** Cancel and the dialog's submit button. */
export function DialogActions(props: {
  onCancel: () => void;
  submit: string;
  disabled: boolean;
  danger?: boolean;
}): JSX.Element {
  return (
    <div class="dialog-actions">
      <button type="button" onClick={props.onCancel}>
        Cancel
      </button>
      <button class={props.danger ? 'danger' : 'primary'} type="submit" disabled={props.disabled}>
        {props.submit}
      </button>
    </div>
  );
}

/** A workspace picker over the caller's workspaces; `any` adds a first option with an empty value. */
export function WorkspaceSelect(props: {
  workspaces: Array<{ id: string; name: string }> | undefined;
  value: string;
  onChange: (id: string) => void;
  any?: string;
}): JSX.Element {
  return (
    <Labelled label="Workspace">
      <select value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.any !== undefined && <option value="">{props.any}</option>}
        {props.workspaces?.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name}
          </option>
        ))}
      </select>
    </Labelled>
  );
}
